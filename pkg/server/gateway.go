package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/creasty/defaults"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Gateway is one running gateway: clusters, adapters and listeners built from a config document.
type Gateway struct {
	Doc      *config.Document
	Clusters *ClusterManager
	Adapters *AdapterManager
	Metrics  *metrics.Metrics
	Logger   *slog.Logger

	listeners []*listener
	shutdown  model.ShutdownConfig
	serving   sync.WaitGroup
	stopOnce  sync.Once
	stopErr   error
	obs       observability // metrics and admin servers, see observability.go
}

// Option adjusts what New builds.
type Option func(*options)

type options struct {
	accessLog io.Writer
}

// WithAccessLogOutput sends the listeners' access logs (listener config access_log) to w. The
// default is standard error, where the pixiu command writes its own log.
func WithAccessLogOutput(w io.Writer) Option {
	return func(o *options) { o.accessLog = w }
}

// New builds a gateway from a loaded config: it creates the cluster manager and applies every
// filter and adapter, so that every config error surfaces here, before anything listens.
func New(doc *config.Document, logger *slog.Logger, opts ...Option) (*Gateway, error) {
	if logger == nil {
		logger = slog.Default()
	}
	o := options{accessLog: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	logger = slog.New(redact.NewHandler(logger.Handler())) // no API key or password reaches a log
	for _, w := range doc.Warnings {
		level := slog.LevelWarn
		if w.Info {
			level = slog.LevelInfo
		}
		logger.Log(context.Background(), level, "config: "+w.Msg, "file", doc.File, "line", w.Line, "key", w.Path)
	}
	b := doc.Bootstrap
	g := &Gateway{Doc: doc, Logger: logger, Metrics: metrics.New()}
	g.shutdown = shutdownConfig(b.StaticResources.ShutdownConfig)

	cm, err := NewClusterManager(b.StaticResources.Clusters, g.Metrics)
	if err != nil {
		return nil, &config.Error{File: doc.File, Err: err}
	}
	g.Clusters = cm
	if err := g.newObservability(doc); err != nil {
		return nil, err
	}

	env := filter.Env{Clusters: cm, Logger: logger, Metrics: g.Metrics}
	for i, l := range b.StaticResources.Listeners {
		ln, err := newListener(doc, i, l, env, o.accessLog)
		if err != nil {
			g.stopListeners()
			return nil, err
		}
		g.listeners = append(g.listeners, ln)
	}

	am, err := NewAdapterManager(doc, cm, g.Metrics, logger)
	if err != nil {
		g.stopListeners()
		return nil, err
	}
	g.Adapters = am
	return g, nil
}

// Start binds every listener, then serves and starts the adapters. It fails only when a listener
// (or the metrics or admin server, bound first) cannot bind; adapters start in the background and
// never fail Start.
func (g *Gateway) Start() error {
	if err := g.startObservability(); err != nil {
		return err
	}
	for _, l := range g.listeners {
		if err := l.listen(); err != nil {
			for _, bound := range g.listeners {
				if bound.ln != nil {
					_ = bound.ln.Close()
				}
			}
			g.stopObservability()
			return err
		}
	}
	for _, l := range g.listeners {
		g.serving.Add(1)
		go func() {
			defer g.serving.Done()
			l.serve()
		}()
	}
	g.Adapters.Start()
	g.obs.serving.Store(true)
	return nil
}

// ListenerAddrs returns the bound address of each listener by name (useful with port 0).
func (g *Gateway) ListenerAddrs() map[string]net.Addr {
	out := make(map[string]net.Addr, len(g.listeners))
	for _, l := range g.listeners {
		if l.ln != nil {
			out[l.name] = l.ln.Addr()
		}
	}
	return out
}

// InFlight is the number of client requests the listeners are serving now.
func (g *Gateway) InFlight() int {
	n := 0
	for _, l := range g.listeners {
		n += l.active()
	}
	return n
}

// Shutdown stops accepting, drains in-flight requests until the shutdown timeout (or ctx) ends,
// then stops the adapters. It is idempotent and returns the first error of the first call.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() {
		g.obs.serving.Store(false)
		if g.shutdown.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, g.shutdown.Timeout)
			defer cancel()
		}
		start := time.Now()
		var errs []error
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, l := range g.listeners {
			if l.ln == nil {
				l.stopFilters()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.shutdown(ctx); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("listener %q: %w", l.name, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		g.serving.Wait()
		g.Adapters.Stop(g.shutdown.StepTimeout)
		g.Clusters.Close()
		g.stopObservability()
		g.Logger.Info("gateway stopped", "took", time.Since(start).Round(time.Millisecond).String())
		g.stopErr = errors.Join(errs...)
	})
	return g.stopErr
}

func (g *Gateway) stopListeners() {
	for _, l := range g.listeners {
		l.stopFilters()
	}
}

// shutdownConfig is c with the defaults of model.ShutdownConfig (its default tags) for what c
// leaves unset; all defaults when c is nil.
func shutdownConfig(c *model.ShutdownConfig) model.ShutdownConfig {
	var sd model.ShutdownConfig
	if c != nil {
		sd = *c
	}
	if err := defaults.Set(&sd); err != nil {
		panic(err) // only a malformed default tag fails, which the tests catch
	}
	return sd
}
