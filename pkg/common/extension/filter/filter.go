// Package filter defines HTTP filter plugins: the steps of a listener's HTTP filter chain, such as
// dgp.filter.llm.proxy. Plugins register themselves from init functions.
package filter

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// HTTPFilterPlugin creates filter factories of one kind.
type HTTPFilterPlugin interface {
	Kind() string
	CreateFilterFactory(env Env) (HTTPFilterFactory, error)
}

// HTTPFilterFactory is one configured filter. Config returns the target its config is decoded
// into; Apply validates and provisions it; Handler wraps the rest of the chain. A terminal filter
// (one that answers every request, like the LLM proxy) ignores next.
type HTTPFilterFactory interface {
	Config() any
	Apply() error
	Handler(next http.Handler) http.Handler
}

// Stopper is implemented by factories that hold resources (idle connections, goroutines).
type Stopper interface {
	Stop()
}

// ClusterSource gives request-time, lock-free access to cluster snapshots.
type ClusterSource interface {
	// Cluster returns the current snapshot of a cluster, or nil when it does not exist.
	Cluster(name string) *cluster.Cluster
}

// ClusterLister is implemented by cluster sources that can list every cluster, sorted by name
// (the server's ClusterManager does). Model routing and the model catalog use it on routes that
// name no clusters.
type ClusterLister interface {
	Clusters() []*cluster.Cluster
}

// Env is what the host hands a filter.
type Env struct {
	Clusters ClusterSource
	Logger   *slog.Logger
	// Metrics may be nil; its methods are nil-safe.
	Metrics *metrics.Metrics
}

// FilterLogger is the logger a filter of kind logs with: Logger (slog's default when nil)
// with the filter's kind.
func (e Env) FilterLogger(kind string) *slog.Logger {
	logger := e.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return logger.With("filter", kind)
}

type routeKey struct{}

// WithRoute returns a context carrying the route a request matched.
func WithRoute(ctx context.Context, r *model.RouteAction) context.Context {
	return context.WithValue(ctx, routeKey{}, r)
}

// RouteFrom returns the route a request matched, or nil.
func RouteFrom(ctx context.Context) *model.RouteAction {
	r, _ := ctx.Value(routeKey{}).(*model.RouteAction)
	return r
}

var plugins = plugin.NewSet[HTTPFilterPlugin]("http filter", false)

// RegisterHTTPFilter adds a plugin. A kind registered twice is a programming error and panics.
func RegisterHTTPFilter(p HTTPFilterPlugin) { plugins.Register(p.Kind(), p) }

// GetHTTPFilterPlugin returns the plugin of a kind.
func GetHTTPFilterPlugin(kind string) (HTTPFilterPlugin, error) {
	p, ok := plugins.Lookup(kind)
	if !ok {
		return p, unknownFilterError(kind, plugins.Names())
	}
	return p, nil
}

// ConsumerInfo describes a consumer an authenticating filter knows, for the admin API: its name
// and how many keys it may present (never the keys).
type ConsumerInfo struct {
	Name string
	Keys int
}

// ConsumerLister is implemented by filter factories that authenticate consumers.
type ConsumerLister interface {
	Consumers() []ConsumerInfo
}
