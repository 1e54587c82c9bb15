package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// FieldError is an error about the key at Path (e.g. "static_resources.clusters[0].lb_policy").
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// NetworkFilterHTTPConnectionManager is the one network filter the gateway serves HTTP with.
const NetworkFilterHTTPConnectionManager = "dgp.filter.httpconnectionmanager"

// Validate checks what can be checked without plugins: listeners, clusters, endpoints, routes.
// Plugin configs (http filters, adapters) are validated when the plugins are applied.
func Validate(b *model.Bootstrap) ([]Warning, error) {
	sr := &b.StaticResources
	warnings, clusterNames, err := validateClusters(sr.Clusters)
	if err != nil {
		return nil, err
	}
	adapters, err := countAdapters(sr.Adapters)
	if err != nil {
		return nil, err
	}
	w, err := validateListeners(sr.Listeners, clusterNames, adapters)
	warnings = append(warnings, w...)
	if err != nil {
		return warnings, err
	}
	if sd := sr.ShutdownConfig; sd != nil && sd.Timeout < 0 {
		return warnings, fieldErr("static_resources.shutdown_config.timeout", "negative timeout %s", sd.Timeout)
	}
	if b.Metric.Enable && (b.Metric.PrometheusPort <= 0 || b.Metric.PrometheusPort > 65535) {
		return warnings, fieldErr("metric.prometheus_port", "port %d out of range 1..65535", b.Metric.PrometheusPort)
	}
	return warnings, nil
}

// validateClusters checks the static clusters and returns their names.
func validateClusters(clusters []*model.ClusterConfig) ([]Warning, map[string]bool, error) {
	var warnings []Warning
	names := map[string]bool{}
	for i, c := range clusters {
		p := fmt.Sprintf("static_resources.clusters[%d]", i)
		if c == nil {
			return nil, nil, fieldErr(p, "empty cluster")
		}
		if c.Name == "" {
			return nil, nil, fieldErr(p+".name", "cluster name is required")
		}
		if names[c.Name] {
			return nil, nil, fieldErr(p+".name", "duplicate cluster name %q", c.Name)
		}
		names[c.Name] = true
		warnings = append(warnings, normalizeLbPolicy(c, p)...)
		if err := cluster.ValidConsistentHash(c.ConsistentHash); err != nil {
			return nil, nil, &FieldError{Path: p + ".consistent", Err: err}
		}
		if err := validateEndpoints(c, p); err != nil {
			return nil, nil, err
		}
	}
	return warnings, names, nil
}

// validateEndpoints checks the endpoints of cluster c, at path p, as the cluster manager will
// compile them.
func validateEndpoints(c *model.ClusterConfig, p string) error {
	ids := map[string]bool{}
	for j, ep := range c.Endpoints {
		ep2 := fmt.Sprintf("%s.endpoints[%d]", p, j)
		if ep == nil {
			return fieldErr(ep2, "empty endpoint")
		}
		if ep.ID == "" {
			return fieldErr(ep2+".id", "endpoint id is required (cluster %q)", c.Name)
		}
		if ids[ep.ID] {
			return fieldErr(ep2+".id", "duplicate endpoint id %q in cluster %q", ep.ID, c.Name)
		}
		ids[ep.ID] = true
		if _, err := cluster.Compile(ep); err != nil {
			var ee *cluster.EndpointError
			if errors.As(err, &ee) {
				return fieldErr(ep2+"."+ee.Key, "%v (cluster %q, endpoint %q)", ee.Err, c.Name, ep.ID)
			}
			return fieldErr(ep2, "%v", err)
		}
	}
	return nil
}

// countAdapters checks that every adapter has a name and counts the enabled ones.
func countAdapters(adapters []*model.Adapter) (int, error) {
	n := 0
	for i, a := range adapters {
		if a == nil || a.Name == "" {
			return 0, fieldErr(fmt.Sprintf("static_resources.adapters[%d].name", i), "adapter name is required")
		}
		if !a.Disabled {
			n++
		}
	}
	return n, nil
}

// validateListeners checks each listener, its address and its filter chain.
func validateListeners(listeners []*model.Listener, clusterNames map[string]bool, adapters int) ([]Warning, error) {
	var warnings []Warning
	names := map[string]bool{}
	for i, l := range listeners {
		p := fmt.Sprintf("static_resources.listeners[%d]", i)
		if l == nil {
			return warnings, fieldErr(p, "empty listener")
		}
		if l.Name != "" && names[l.Name] {
			return warnings, fieldErr(p+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if err := validateListenerAddress(l, p); err != nil {
			return warnings, err
		}
		if len(l.FilterChain.Filters) == 0 {
			return warnings, fieldErr(p+".filter_chains.filters", "listener %q has no filters", l.Name)
		}
		for j, f := range l.FilterChain.Filters {
			w, err := validateNetworkFilter(f, fmt.Sprintf("%s.filter_chains.filters[%d]", p, j), clusterNames, adapters)
			warnings = append(warnings, w...)
			if err != nil {
				return warnings, err
			}
		}
	}
	return warnings, nil
}

// validateListenerAddress checks the listener's protocol and socket address.
func validateListenerAddress(l *model.Listener, p string) error {
	if !strings.EqualFold(l.ProtocolType, model.ProtocolTypeHTTP) {
		return fieldErr(p+".protocol_type", "unsupported protocol_type %q (supported: HTTP)", l.ProtocolType)
	}
	sa := l.Address.SocketAddress
	if sa.Port < 0 || sa.Port > 65535 {
		return fieldErr(p+".address.socket_address.port", "port %d out of range 0..65535", sa.Port)
	}
	if sa.Address != "" && net.ParseIP(sa.Address) == nil && sa.Address != "localhost" {
		return fieldErr(p+".address.socket_address.address", "%q is not an IP address", sa.Address)
	}
	return nil
}

// validateNetworkFilter decodes the HTTP connection manager at fp and checks its routes.
func validateNetworkFilter(f model.NetworkFilter, fp string, clusterNames map[string]bool, adapters int) ([]Warning, error) {
	if f.Name != NetworkFilterHTTPConnectionManager {
		return nil, fieldErr(fp+".name", "unknown network filter %q (supported: %s)", f.Name, NetworkFilterHTTPConnectionManager)
	}
	var hcm model.HTTPConnectionManagerConfig
	warnings, err := Decode(f.Config, &hcm, fp+".config")
	if err != nil {
		return warnings, err
	}
	for k, r := range hcm.RouteConfig.Routes {
		rp := fmt.Sprintf("%s.config.route_config.routes[%d]", fp, k)
		if r == nil {
			return warnings, fieldErr(rp, "empty route")
		}
		if r.Match.Prefix == "" && r.Match.Path == "" {
			return warnings, fieldErr(rp+".match", "route needs match.prefix or match.path")
		}
		w, err := validateRouteAction(&r.Route, rp+".route", clusterNames, adapters)
		warnings = append(warnings, w...)
		if err != nil {
			return warnings, err
		}
		if c := r.Route.ClusterNotFoundResponseCode; c != 0 && (c < 400 || c > 599) {
			return warnings, fieldErr(rp+".route.cluster_not_found_response_code", "%d is not an HTTP error status (400..599)", c)
		}
	}
	return warnings, nil
}

// validateRouteAction checks where a route sends requests: one known cluster, or, with
// model_routing, the optional list of clusters the model chooses from. Clusters only an adapter
// can provide are an info remark when an adapter is configured, else an error.
func validateRouteAction(a *model.RouteAction, path string, clusterNames map[string]bool, adapters int) ([]Warning, error) {
	if a.ModelRouting {
		if a.Cluster != "" {
			return nil, fieldErr(path+".cluster", "a route with model_routing: true picks its cluster by model; remove cluster %q (or list it in clusters)", a.Cluster)
		}
		var warnings []Warning
		seen := map[string]bool{}
		for i, name := range a.Clusters {
			p := fmt.Sprintf("%s.clusters[%d]", path, i)
			if name == "" {
				return warnings, fieldErr(p, "empty cluster name")
			}
			if seen[name] {
				return warnings, fieldErr(p, "cluster %q is listed twice", name)
			}
			seen[name] = true
			w, err := checkRouteCluster(name, p, clusterNames, adapters, "its models are not routed until an adapter provides it")
			warnings = append(warnings, w...)
			if err != nil {
				return warnings, err
			}
		}
		return warnings, nil
	}
	if len(a.Clusters) > 0 {
		return nil, fieldErr(path+".clusters", "clusters is only used with model_routing: true")
	}
	if a.Cluster == "" {
		return nil, fieldErr(path+".cluster", "route has no cluster (set cluster, or model_routing: true)")
	}
	return checkRouteCluster(a.Cluster, path+".cluster", clusterNames, adapters,
		fmt.Sprintf("requests get %d until an adapter provides it", a.ClusterNotFoundStatus()))
}

func checkRouteCluster(name, path string, clusterNames map[string]bool, adapters int, meanwhile string) ([]Warning, error) {
	if clusterNames[name] {
		return nil, nil
	}
	if adapters == 0 {
		return nil, fieldErr(path, "cluster %q is not defined in static_resources.clusters and no adapter is configured to provide it", name)
	}
	return []Warning{{Path: path, Info: true, Msg: fmt.Sprintf("cluster %q is not defined statically; %s", name, meanwhile)}}, nil
}

// normalizeLbPolicy sets the cluster's lb_policy to its canonical name. Upstream Pixiu starts
// with an unknown policy (its published samples write "lb") and balances round robin; so does
// this gateway, with a warning.
func normalizeLbPolicy(c *model.ClusterConfig, path string) []Warning {
	var warnings []Warning
	lb, ok := cluster.LbPolicy(c.LbStr)
	if !ok {
		warnings = append(warnings, Warning{Path: path + ".lb_policy", Msg: fmt.Sprintf(
			"unknown lb_policy %q (known: %s); using %s", c.LbStr,
			strings.Join(cluster.KnownLbPolicies(), ", "), model.LoadBalancerRoundRobin)})
		lb = model.LoadBalancerRoundRobin
	}
	c.LbStr = lb
	if c.ConsistentHash != (model.ConsistentHash{}) && lb != model.LoadBalancerRingHashing && lb != model.LoadBalancerMaglevHashing {
		warnings = append(warnings, Warning{Path: path + ".consistent",
			Msg: fmt.Sprintf("only RingHashing and MaglevHashing use it; lb_policy is %s", lb)})
	}
	return warnings
}
