// Package filter defines HTTP filter plugins: the steps of a listener's HTTP filter chain, such as
// dgp.filter.llm.proxy. Plugins register themselves from init functions.
package filter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/pixiu-llm/gateway/pkg/cluster"
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

// Env is what the host hands a filter.
type Env struct {
	Clusters ClusterSource
	Logger   *slog.Logger
	// Metrics may be nil; its methods are nil-safe.
	Metrics *metrics.Metrics
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

var (
	mu      sync.RWMutex
	plugins = map[string]HTTPFilterPlugin{}
)

// RegisterHTTPFilter adds a plugin. A kind registered twice is a programming error and panics.
func RegisterHTTPFilter(p HTTPFilterPlugin) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := plugins[p.Kind()]; dup {
		panic(fmt.Sprintf("http filter %q registered twice", p.Kind()))
	}
	plugins[p.Kind()] = p
}

// GetHTTPFilterPlugin returns the plugin of a kind.
func GetHTTPFilterPlugin(kind string) (HTTPFilterPlugin, error) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := plugins[kind]
	if !ok {
		kinds := make([]string, 0, len(plugins))
		for k := range plugins {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, unknownFilterError(kind, kinds)
	}
	return p, nil
}
