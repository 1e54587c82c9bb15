package gatewayconfig

import (
	"time"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// Defaults of OneRoute.
const (
	ListenerName   = "llm"
	DefaultPrefix  = "/v1"
	DefaultCluster = "chat"
)

// OneRoute is the gateway most tests run: one listener named "llm" on loopback whose single
// route sends Prefix to Cluster through Filters, the static Clusters, and optionally adapters
// and metrics. Zero fields take the defaults noted.
type OneRoute struct {
	// Port is the listener's port; 0 (the default) means a free one.
	Port int
	// Prefix is the route's prefix; default /v1.
	Prefix string
	// Cluster is the route's cluster; default chat.
	Cluster string
	// Routes, when set, replace the route from Prefix to Cluster.
	Routes []*model.Router
	// Filters default to the LLM proxy with a 5s timeout.
	Filters []*model.HTTPFilter
	// Listener holds the listener's timeouts and access log; zero fields take the gateway's defaults.
	Listener model.HTTPListenerConfig
	Clusters []*model.ClusterConfig
	Adapters []*model.Adapter
	// Shutdown defaults to a 5s timeout and 5s steps.
	Shutdown *model.ShutdownConfig
	Metrics  bool
}

// Bootstrap is the config as the model.
func (c OneRoute) Bootstrap() *model.Bootstrap {
	prefix, cluster, filters, shutdown := c.Prefix, c.Cluster, c.Filters, c.Shutdown
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if cluster == "" {
		cluster = DefaultCluster
	}
	if len(filters) == 0 {
		filters = []*model.HTTPFilter{Proxy(map[string]any{"timeout": "5s"})}
	}
	if shutdown == nil {
		shutdown = Shutdown(5*time.Second, 5*time.Second)
	}
	routes := c.Routes
	if len(routes) == 0 {
		routes = []*model.Router{Route(prefix, cluster)}
	}
	l := Listener(ListenerName, c.Port, routes, filters...)
	l.Config = c.Listener
	return &model.Bootstrap{
		StaticResources: model.StaticResources{
			Listeners:      []*model.Listener{l},
			Clusters:       c.Clusters,
			Adapters:       c.Adapters,
			ShutdownConfig: shutdown,
		},
		Metric: model.Metric{Enable: c.Metrics},
	}
}

// YAML is the config as pixiu.yaml text.
func (c OneRoute) YAML() string { return YAML(c.Bootstrap()) }
