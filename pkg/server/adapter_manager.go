package server

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// AdapterManager creates, applies, starts and stops the configured adapters.
type AdapterManager struct {
	adapters []namedAdapter
	logger   *slog.Logger
	stopOnce sync.Once
}

type namedAdapter struct {
	id      string
	kind    string
	adapter adapter.Adapter
}

// NewAdapterManager creates and applies every enabled adapter. Any failure is an error naming the
// adapter; no half-built adapter is kept.
func NewAdapterManager(doc *config.Document, cm *ClusterManager, m *metrics.Metrics, logger *slog.Logger) (*AdapterManager, error) {
	am := &AdapterManager{logger: logger}
	seen := map[string]bool{}
	for i, cfg := range doc.Bootstrap.StaticResources.Adapters {
		path := fmt.Sprintf("static_resources.adapters[%d]", i)
		id := cfg.ID
		if id == "" {
			id = cfg.Name
		}
		if cfg.Disabled {
			logger.Info("adapter disabled", "adapter", id, "kind", cfg.Name)
			continue
		}
		if seen[id] {
			return nil, doc.Errorf(path+".id", "duplicate adapter id %q", id)
		}
		seen[id] = true
		a, err := am.create(doc, path, id, cfg, cm, m)
		if err != nil {
			return nil, err
		}
		am.adapters = append(am.adapters, namedAdapter{id: id, kind: cfg.Name, adapter: a})
	}
	return am, nil
}

func (am *AdapterManager) create(doc *config.Document, path, id string, cfg *model.Adapter, cm *ClusterManager, m *metrics.Metrics) (adapter.Adapter, error) {
	plugin, err := adapter.GetAdapterPlugin(cfg.Name)
	if err != nil {
		return nil, doc.Errorf(path+".name", "adapter %q: %v", id, err)
	}
	logger := am.logger.With("adapter", id)
	a, err := plugin.CreateAdapter(cfg, adapter.Env{Endpoints: cm.ForSource(id), Logger: logger, Metrics: m})
	if err != nil {
		return nil, doc.Errorf(path, "adapter %q: %v", id, err)
	}
	if a == nil {
		return nil, doc.Errorf(path, "adapter %q: plugin %s returned no adapter", id, cfg.Name)
	}
	warnings, err := config.Decode(cfg.Config, a.Config(), path+".config")
	for _, w := range warnings {
		logger.Warn("config: "+w.Msg, "file", doc.File, "key", w.Path)
	}
	if err != nil {
		return nil, locateFieldError(doc, err)
	}
	if err := a.Apply(); err != nil {
		return nil, pluginError(doc, path+".config", fmt.Sprintf("adapter %q", id), err)
	}
	return a, nil
}

// Start starts every adapter. Adapters start without blocking.
func (am *AdapterManager) Start() {
	for _, a := range am.adapters {
		am.logger.Info("starting adapter", "adapter", a.id, "kind", a.kind)
		a.adapter.Start()
	}
}

// Stop stops every adapter, each bounded by stepTimeout; it is idempotent.
func (am *AdapterManager) Stop(stepTimeout time.Duration) {
	am.stopOnce.Do(func() {
		for _, a := range am.adapters {
			done := make(chan struct{})
			go func() {
				defer close(done)
				a.adapter.Stop()
			}()
			select {
			case <-done:
			case <-time.After(stepTimeout):
				am.logger.Warn("adapter did not stop in time", "adapter", a.id, "timeout", stepTimeout.String())
			}
		}
	})
}

// Adapters returns the running adapters by id, for the admin API.
func (am *AdapterManager) Adapters() map[string]adapter.Adapter {
	out := make(map[string]adapter.Adapter, len(am.adapters))
	for _, a := range am.adapters {
		out[a.id] = a.adapter
	}
	return out
}
