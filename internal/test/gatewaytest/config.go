package gatewaytest

import (
	"fmt"
	"strings"
)

// Config builds the pixiu.yaml text of a test gateway: one listener named "llm" on loopback
// whose routes (by default one, sending Prefix to Cluster) go through HTTPFilters, the static
// Clusters, and optionally adapters and metrics. Zero fields take the defaults noted.
type Config struct {
	// Port is the listener's port; 0 (the default) means a free one.
	Port int
	// Prefix is the default route's prefix; default /v1.
	Prefix string
	// Cluster is the default route's cluster; default chat.
	Cluster string
	// Routes, when set, replace the default route.
	Routes []Route
	// HTTPFilters default to the LLM proxy with a 5s timeout.
	HTTPFilters []Filter
	Clusters    []Cluster
	// Listener is the listener's flow-style config, such as "{write_timeout: 300ms}"; default none.
	Listener string
	// Adapters is yaml of static_resources.adapters list items, indented by four spaces.
	Adapters string
	// Shutdown is the flow-style shutdown_config; default {timeout: 5s, step_timeout: 5s}.
	Shutdown string
	Metrics  bool
}

// Route is one route of the listener; Match and Action are flow-style yaml, such as
// "{prefix: /static}" and "{cluster: static}".
type Route struct {
	Match, Action string
}

// Filter is an http filter; Config is flow-style yaml such as "{timeout: 5s}", or "" for none.
type Filter struct {
	Name, Config string
}

// ProxyFilter is dgp.filter.llm.proxy with config (flow-style yaml).
func ProxyFilter(config string) Filter { return Filter{Name: "dgp.filter.llm.proxy", Config: config} }

// Cluster is a static cluster; Endpoints are rendered by Endpoint. Consistent is flow-style yaml.
type Cluster struct {
	Name, LbPolicy, Consistent string
	Endpoints                  []string
}

// YAML renders the cluster as an item of static_resources.clusters.
func (cl Cluster) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "    - name: %s\n", cl.Name)
	if cl.LbPolicy != "" {
		fmt.Fprintf(&b, "      lb_policy: %s\n", cl.LbPolicy)
	}
	if cl.Consistent != "" {
		fmt.Fprintf(&b, "      consistent: %s\n", cl.Consistent)
	}
	fmt.Fprintf(&b, "      endpoints:\n%s", strings.Join(cl.Endpoints, ""))
	return b.String()
}

// YAML renders the config.
func (c Config) YAML() string {
	filters, shutdown := c.HTTPFilters, c.Shutdown
	if len(filters) == 0 {
		filters = []Filter{ProxyFilter("{timeout: 5s}")}
	}
	if shutdown == "" {
		shutdown = "{timeout: 5s, step_timeout: 5s}"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `static_resources:
  listeners:
    - name: llm
      address: {socket_address: {address: 127.0.0.1, port: %d}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
`, c.Port)
	for _, r := range c.routes() {
		fmt.Fprintf(&b, "                  - match: %s\n                    route: %s\n", r.Match, r.Action)
	}
	b.WriteString("              http_filters:\n")
	for _, f := range filters {
		fmt.Fprintf(&b, "                - name: %s\n", f.Name)
		if f.Config != "" {
			fmt.Fprintf(&b, "                  config: %s\n", f.Config)
		}
	}
	if c.Listener != "" {
		fmt.Fprintf(&b, "      config: %s\n", c.Listener)
	}
	if len(c.Clusters) > 0 {
		b.WriteString("  clusters:\n")
	}
	for _, cl := range c.Clusters {
		b.WriteString(cl.YAML())
	}
	if c.Adapters != "" {
		fmt.Fprintf(&b, "  adapters:\n%s", c.Adapters)
	}
	fmt.Fprintf(&b, "  shutdown_config: %s\n", shutdown)
	if c.Metrics {
		b.WriteString("metric: {enable: true}\n")
	}
	return b.String()
}

// routes are c.Routes, or the default route from Prefix to Cluster.
func (c Config) routes() []Route {
	if len(c.Routes) > 0 {
		return c.Routes
	}
	prefix, clusterName := c.Prefix, c.Cluster
	if prefix == "" {
		prefix = "/v1"
	}
	if clusterName == "" {
		clusterName = "chat"
	}
	return []Route{{Match: "{prefix: " + prefix + "}", Action: "{cluster: " + clusterName + "}"}}
}
