// Package gatewayconfig builds the gateway's config for tests and tooling from the model types
// of pkg/model, and renders it as the pixiu.yaml a user would write (yaml.v3), so a test's
// gateway goes through the same loading, defaults and validation as a real one. OneRoute is the
// shape most tests need; the smaller helpers build the parts of any other shape.
package gatewayconfig

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Names of the plugins the helpers configure.
const (
	HTTPConnectionManager = "dgp.filter.httpconnectionmanager"
	ProxyFilterName       = "dgp.filter.llm.proxy"
)

// YAML renders b as pixiu.yaml text, leaving out the keys whose value is zero or empty: the
// loader reads a missing key as its zero value, so the text means the same and reads like a
// file a user wrote.
func YAML(b *model.Bootstrap) string {
	var root yaml.Node
	if err := root.Encode(b); err != nil {
		// Only a value yaml cannot represent (a func, a channel) fails: a bug in the test.
		panic(fmt.Sprintf("gatewayconfig: render pixiu.yaml: %v", err))
	}
	pruneZero(&root)
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		panic(fmt.Sprintf("gatewayconfig: render pixiu.yaml: %v", err))
	}
	return out.String()
}

// pruneZero removes, depth first, every mapping entry whose value is a zero scalar, null, or an
// empty sequence or mapping.
func pruneZero(n *yaml.Node) {
	for _, c := range n.Content {
		pruneZero(c)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isZero(n.Content[i+1]) {
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
	}
	n.Content = kept
}

func isZero(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return true
		case "!!str":
			return n.Value == "" || n.Value == "0s"
		case "!!int", "!!float":
			return n.Value == "0"
		case "!!bool":
			return n.Value == "false"
		}
	case yaml.SequenceNode, yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}

// Listener is an HTTP listener on 127.0.0.1:port (0: a free port) whose connection manager
// routes through filters.
func Listener(name string, port int, routes []*model.Router, filters ...*model.HTTPFilter) *model.Listener {
	hcm := model.HTTPConnectionManagerConfig{
		RouteConfig: model.RouteConfiguration{Routes: routes},
		HTTPFilters: filters,
	}
	return &model.Listener{
		Name:        name,
		Address:     model.Address{SocketAddress: model.SocketAddress{Address: "127.0.0.1", Port: port}},
		FilterChain: model.FilterChain{Filters: []model.NetworkFilter{{Name: HTTPConnectionManager, Config: toMap(hcm)}}},
	}
}

// Route sends requests under prefix to cluster.
func Route(prefix, cluster string) *model.Router {
	return &model.Router{Match: model.RouterMatch{Prefix: prefix}, Route: model.RouteAction{Cluster: cluster}}
}

// Filter is the http filter name with config: a map, or a struct with yaml tags (such as the
// filter's own config type); nil for none.
func Filter(name string, config any) *model.HTTPFilter {
	return &model.HTTPFilter{Name: name, Config: toMap(config)}
}

// Proxy is the LLM proxy filter with config (see Filter).
func Proxy(config any) *model.HTTPFilter { return Filter(ProxyFilterName, config) }

// Cluster is a static cluster; lb "" is the default policy.
func Cluster(name, lb string, endpoints ...*model.Endpoint) *model.ClusterConfig {
	return &model.ClusterConfig{Name: name, LbStr: lb, Endpoints: endpoints}
}

// Endpoint dials hostPort ("127.0.0.1:9001"); meta may be nil.
func Endpoint(id, hostPort string, meta *model.LLMMeta) *model.Endpoint {
	host, portText, err := net.SplitHostPort(hostPort)
	if err != nil {
		panic(fmt.Sprintf("gatewayconfig: endpoint %s: %v", id, err))
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		panic(fmt.Sprintf("gatewayconfig: endpoint %s: port %q: %v", id, portText, err))
	}
	return &model.Endpoint{ID: id, Address: model.SocketAddress{Address: host, Port: port}, LLMMeta: meta}
}

// DomainEndpoint reaches the upstream that socket_address.domains names; meta may be nil.
func DomainEndpoint(id, domain string, meta *model.LLMMeta) *model.Endpoint {
	return &model.Endpoint{ID: id, Address: model.SocketAddress{Domains: []string{domain}}, LLMMeta: meta}
}

// Shutdown bounds the gateway's shutdown and each of its steps.
func Shutdown(timeout, step time.Duration) *model.ShutdownConfig {
	return &model.ShutdownConfig{Timeout: timeout, StepTimeout: step}
}

// Adapter is an adapter plugin with its config (see Filter).
func Adapter(id, name string, config any) *model.Adapter {
	return &model.Adapter{ID: id, Name: name, Config: toMap(config)}
}

// toMap turns a plugin config into the map pixiu.yaml holds, by way of its yaml form.
func toMap(config any) map[string]any {
	if config == nil {
		return nil
	}
	if m, ok := config.(map[string]any); ok {
		return m
	}
	text, err := yaml.Marshal(config)
	if err != nil {
		panic(fmt.Sprintf("gatewayconfig: render plugin config: %v", err))
	}
	var m map[string]any
	if err := yaml.Unmarshal(text, &m); err != nil {
		panic(fmt.Sprintf("gatewayconfig: plugin config %T is not a mapping: %v", config, err))
	}
	return m
}

// CountBased is the retry policy that tries an endpoint times more times after a failure.
func CountBased(times int) model.RetryPolicy {
	return model.RetryPolicy{Name: "CountBased", Config: map[string]any{"times": times}}
}

// Names of the LLM registry adapter and of the one entry RegistryAdapter configures.
const (
	RegistryAdapterID   = "llm-registry"
	RegistryAdapterName = "dgp.adapter.llmregistrycenter"
	RegistryEntry       = "nacos"
)

// RegistryAdapter is the LLM registry adapter "llm-registry" with the one registry entry "nacos".
func RegistryAdapter(entry registry.Config) *model.Adapter {
	return Adapter(RegistryAdapterID, RegistryAdapterName,
		map[string]any{"registries": map[string]any{RegistryEntry: toMap(entry)}})
}
