package server

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/admin"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// observability holds the gateway's metrics and admin servers. Both are optional:
// metric.enable and admin.enable switch them on. They start before the listeners, so a port
// clash fails Start before any traffic is accepted, and stop after the listeners drained, so a
// scrape during shutdown still works.
type observability struct {
	metrics *metrics.Server // nil unless metric.enable
	admin   *admin.Server   // nil unless admin.enable
	// serving is true between a successful Start and the beginning of Shutdown; /readyz reports it.
	serving atomic.Bool
}

// newObservability prepares the servers the config enables; nothing binds yet.
func (g *Gateway) newObservability(doc *config.Document) error {
	b := doc.Bootstrap
	if b.Metric.Enable {
		g.obs.metrics = metrics.NewServer(g.Metrics, b.Metric, g.Logger)
	}
	if b.Admin.Enable {
		srv, err := admin.New(b.Admin, admin.Sources{
			Clusters:  g.Clusters,
			Adapters:  adapterSource{g},
			Listeners: g.ListenerAddrs,
			Consumers: g.consumers,
			Serving:   g.obs.serving.Load,
		}, g.Logger)
		if err != nil {
			return &config.Error{File: doc.File, Line: doc.Line("admin.address"), Err: err}
		}
		g.obs.admin = srv
	}
	return nil
}

// consumers lists the consumers of every listener's authenticating filters, by name only.
func (g *Gateway) consumers() []admin.ConsumerView {
	var out []admin.ConsumerView
	for _, l := range g.listeners {
		for _, f := range l.factories {
			lister, ok := f.(filter.ConsumerLister)
			if !ok {
				continue
			}
			for _, c := range lister.Consumers() {
				out = append(out, admin.ConsumerView{Listener: l.name, Name: c.Name, Keys: c.Keys})
			}
		}
	}
	return out
}

// adapterSource reads the adapters lazily: the admin server is built before the adapters are.
type adapterSource struct{ g *Gateway }

func (a adapterSource) Adapters() map[string]adapter.Adapter {
	if a.g.Adapters == nil {
		return nil
	}
	return a.g.Adapters.Adapters()
}

// startObservability binds and serves the enabled servers; on error nothing is left bound.
func (g *Gateway) startObservability() error {
	if g.obs.metrics != nil {
		if err := g.obs.metrics.Start(); err != nil {
			return &config.Error{File: g.Doc.File, Line: g.Doc.Line("metric.prometheus_port"), Err: err}
		}
	}
	if g.obs.admin != nil {
		if err := g.obs.admin.Start(); err != nil {
			g.stopObservability()
			return &config.Error{File: g.Doc.File, Line: g.Doc.Line("admin.address"), Err: err}
		}
	}
	return nil
}

// stopObservability stops the servers, each bounded by a few seconds: they serve short requests.
func (g *Gateway) stopObservability() {
	g.obs.serving.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if g.obs.admin != nil {
		_ = g.obs.admin.Shutdown(ctx)
	}
	if g.obs.metrics != nil {
		_ = g.obs.metrics.Shutdown(ctx)
	}
}

// MetricsAddr is the bound address of the metrics server; nil when metrics are off or not started.
func (g *Gateway) MetricsAddr() net.Addr {
	if g.obs.metrics == nil {
		return nil
	}
	return g.obs.metrics.Addr()
}

// AdminAddr is the bound address of the admin server; nil when it is off or not started.
func (g *Gateway) AdminAddr() net.Addr {
	if g.obs.admin == nil {
		return nil
	}
	return g.obs.admin.Addr()
}
