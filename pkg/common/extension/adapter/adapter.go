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

// EndpointManager is what an adapter may do to the gateway's clusters. The manager is the one
// record of who owns an endpoint: pixiu.yaml, or which adapter (its source) and which part of it
// (model.Origin.Provider).
type EndpointManager interface {
	// SetEndpoint adds the endpoint to the cluster, or replaces the endpoint with the same id
	// entirely, LLM settings included. The cluster is created when absent. It fails when the id
	// belongs to an endpoint of another source (e.g. a static one) or the endpoint is invalid.
	SetEndpoint(cluster string, ep *model.Endpoint) error
	// DeleteEndpoint removes the endpoint this source added; removing an unknown id is not an error.
	DeleteEndpoint(cluster, id string) error
	// Update applies many changes as one: fn stages them on the batch (each is checked at once and
	// its error returned), and when fn returns every changed cluster gets exactly one new
	// snapshot. The work is proportional to the changed clusters. Writers of the manager wait
	// while fn runs, so fn must not block (no I/O).
	Update(fn func(b Batch))
	// Endpoints lists the endpoints this source owns, with their origin.
	Endpoints() []OwnedEndpoint
}

// Batch stages endpoint changes inside EndpointManager.Update.
type Batch interface {
	// Set adds or replaces an endpoint, recording its origin. It returns the endpoint it
	// replaced (nil when new). It fails when the id belongs to another source or to another
	// provider of this source, or when the endpoint is invalid; the batch goes on without it.
	Set(cluster string, ep *model.Endpoint, origin model.Origin) (replaced *model.Endpoint, err error)
	// Remove removes the endpoint if this source and provider own it, and returns it; an id
	// that is unknown or owned by someone else is left alone (nil, no error).
	Remove(cluster, id, provider string) (removed *model.Endpoint)
}

// OwnedEndpoint is an endpoint an adapter owns, as the cluster manager records it.
type OwnedEndpoint struct {
	Cluster  string
	Endpoint *model.Endpoint
	Origin   model.Origin
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
