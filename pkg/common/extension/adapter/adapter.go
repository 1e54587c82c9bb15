// Package adapter defines adapter plugins: components that feed the gateway's clusters from an
// outside source, such as a service registry. Plugins register themselves from init functions.
package adapter

import (
	"log/slog"

	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// AdapterPlugin creates adapters of one kind, e.g. dgp.adapter.llmregistrycenter.
type AdapterPlugin interface {
	// Kind is the name pixiu.yaml uses for the adapter.
	Kind() string
	// CreateAdapter makes an adapter for one configured entry. It must not start anything.
	CreateAdapter(cfg *model.Adapter, env Env) (Adapter, error)
}

// Adapter is one running adapter. Its life is: Config (the target the config is decoded into),
// Apply (validate and provision; every config error surfaces here), Start (non-blocking, cannot
// fail on config), Stop (idempotent; returns once everything the adapter started has ended).
type Adapter interface {
	Config() any
	Apply() error
	Start()
	Stop()
}

// EndpointManager is what an adapter may do to the gateway's clusters.
type EndpointManager interface {
	// SetEndpoint adds the endpoint to the cluster, or replaces the endpoint with the same id
	// entirely, LLM settings included. The cluster is created when absent. It fails when the id
	// belongs to an endpoint of another source (e.g. a static one) or the endpoint is invalid.
	SetEndpoint(cluster string, ep *model.Endpoint) error
	// DeleteEndpoint removes the endpoint this source added; removing an unknown id is not an error.
	DeleteEndpoint(cluster, id string) error
}

// Env is what the host hands an adapter.
type Env struct {
	Endpoints EndpointManager
	Logger    *slog.Logger
	// Metrics may be nil; its methods are nil-safe.
	Metrics *metrics.Metrics
}

var plugins = plugin.NewSet[AdapterPlugin]("adapter", false)

// RegisterAdapterPlugin adds a plugin. A kind registered twice is a programming error and panics.
func RegisterAdapterPlugin(p AdapterPlugin) { plugins.Register(p.Kind(), p) }

// GetAdapterPlugin returns the plugin of a kind.
func GetAdapterPlugin(kind string) (AdapterPlugin, error) { return plugins.Get(kind) }
