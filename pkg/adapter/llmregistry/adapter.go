package llmregistry

import (
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"

	"dubbo.apache.org/dubbo-go/v3/remoting"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Kind is the adapter's name in pixiu.yaml.
const Kind = "dgp.adapter.llmregistrycenter"

func init() {
	adapter.RegisterAdapterPlugin(Plugin{})
}

// Plugin creates LLM registry adapters.
type Plugin struct{}

// Kind implements adapter.AdapterPlugin.
func (Plugin) Kind() string { return Kind }

// CreateAdapter implements adapter.AdapterPlugin. Nothing is validated or started here.
func (Plugin) CreateAdapter(cfg *model.Adapter, env adapter.Env) (adapter.Adapter, error) {
	if env.Endpoints == nil {
		return nil, fmt.Errorf("%s: no endpoint manager", Kind)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Adapter{env: env, logger: logger, raw: cfg.Config}, nil
}

// Config is the adapter's config block.
type Config struct {
	// Registries are the registry entries to watch, by name.
	Registries map[string]*registry.Config `yaml:"registries" json:"registries"`
}

// Adapter watches its registry entries and applies what their watchers discover.
type Adapter struct {
	env    adapter.Env
	logger *slog.Logger
	raw    map[string]any
	cfg    Config

	registries []*watched // sorted by name; set by Apply

	// mu guards every watched.rejected. Who owns which endpoint is recorded only by the
	// cluster manager (its source tag and origin).
	mu sync.Mutex

	startOnce sync.Once
	stopOnce  sync.Once
}

// watched is one registry entry, its watcher and its listener.
type watched struct {
	name    string
	cfg     registry.Config
	watcher registry.Watcher
	adapter *Adapter
	// rejected is the entry's current rejection set; guarded by adapter.mu.
	rejected []*registry.MetadataError
	// batch is the cluster manager batch of the Batch call in progress, if any. Listener calls
	// of one registry are serialized, so only that registry's goroutine touches it.
	batch adapter.Batch
}

// Config implements adapter.Adapter.
func (a *Adapter) Config() any { return &a.cfg }

// Apply builds one watcher per registry entry. Every error names the entry; on error no
// watcher is kept.
func (a *Adapter) Apply() error {
	if len(a.cfg.Registries) == 0 {
		return fmt.Errorf("registries: no registry configured")
	}
	a.warnUnknownKeys()
	names := make([]string, 0, len(a.cfg.Registries))
	for name := range a.cfg.Registries {
		names = append(names, name)
	}
	sort.Strings(names)
	built := make([]*watched, 0, len(names))
	for _, name := range names {
		rc := a.cfg.Registries[name]
		at := func(key string, err error) error {
			return &config.FieldError{Path: strings.TrimSuffix("registries."+name+"."+key, "."), Err: err}
		}
		if rc == nil {
			return at("", fmt.Errorf("registry %q: empty config", name))
		}
		cfg := rc.WithDefaults()
		if cfg.Protocol == "" {
			return at("protocol", fmt.Errorf("registry %q: protocol is not set (known: %s)", name, strings.Join(registry.Protocols(), ", ")))
		}
		factory, ok := registry.Lookup(cfg.Protocol)
		if !ok {
			return at("protocol", fmt.Errorf("registry %q: unknown protocol %q (known: %s)", name, cfg.Protocol, strings.Join(registry.Protocols(), ", ")))
		}
		reg, err := factory(cfg, registry.Env{Name: name, Logger: a.logger, Metrics: a.env.Metrics})
		if err != nil {
			return at("", fmt.Errorf("registry %q: %w", name, err))
		}
		if reg == nil {
			return fmt.Errorf("registry %q: protocol %q built no registry", name, cfg.Protocol)
		}
		built = append(built, &watched{name: name, cfg: cfg, watcher: reg, adapter: a})
	}
	a.registries = built
	for _, w := range built {
		a.env.Metrics.RegistryConfigured(w.name)
	}
	return nil
}

// warnUnknownKeys reports keys of a registry entry that the config does not know; the host's
// decoder does not look inside maps.
func (a *Adapter) warnUnknownKeys() {
	regs, _ := a.raw["registries"].(map[string]any)
	known := map[string]bool{}
	t := reflect.TypeOf(registry.Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		known[name] = true
	}
	for name, entry := range regs {
		fields, _ := entry.(map[string]any)
		for key := range fields {
			if !known[key] {
				a.logger.Warn("config: unknown key, ignored", "key", fmt.Sprintf("registries.%s.%s", name, key))
			}
		}
	}
}

// Start starts every watcher; it returns at once.
func (a *Adapter) Start() {
	a.startOnce.Do(func() {
		for _, w := range a.registries {
			w.watcher.Start(w)
		}
	})
}

// Stop stops every watcher and waits for them. Endpoints already applied stay in the
// clusters: the gateway is shutting down, and in-flight requests may still use them.
func (a *Adapter) Stop() {
	a.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, w := range a.registries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.watcher.Stop()
			}()
		}
		wg.Wait()
	})
}

// Batch implements registry.Listener: the changes fn makes are published together, one new
// snapshot per changed cluster.
func (w *watched) Batch(fn func()) {
	if w.batch != nil {
		fn()
		return
	}
	w.adapter.env.Endpoints.Update(func(b adapter.Batch) {
		w.batch = b
		defer func() { w.batch = nil }()
		fn()
	})
}

// OnAddEndpoint inserts the endpoint into its cluster (created when absent) or replaces the one
// with the same id entirely, LLM settings included. The cluster manager refuses an id that
// belongs to a static endpoint or to another registry entry.
func (w *watched) OnAddEndpoint(ev registry.Event) error {
	if ev.Endpoint == nil {
		return fmt.Errorf("endpoint event without endpoint")
	}
	if w.batch == nil {
		var err error
		w.Batch(func() { err = w.OnAddEndpoint(ev) })
		return err
	}
	prev, err := w.batch.Set(ev.Cluster, ev.Endpoint, model.Origin{Provider: w.name, Service: ev.Service, Instance: ev.Instance})
	if err != nil {
		return err
	}
	attrs := append(endpointAttrs(w.name, ev), "address", addressOf(ev.Endpoint))
	if prev == nil {
		w.applied(remoting.EventTypeAdd, attrs)
	} else {
		w.applied(remoting.EventTypeUpdate, append(attrs, "changed", changedFields(prev, ev.Endpoint)))
	}
	return nil
}

// OnRemoveEndpoint removes the endpoint by id, if this registry entry added it.
func (w *watched) OnRemoveEndpoint(ev registry.Event) {
	if ev.Endpoint == nil {
		return
	}
	if w.batch == nil {
		w.Batch(func() { w.OnRemoveEndpoint(ev) })
		return
	}
	if w.batch.Remove(ev.Cluster, ev.Endpoint.ID, w.name) == nil {
		return
	}
	w.applied(remoting.EventTypeDel, endpointAttrs(w.name, ev))
}

// appliedMessages are the log messages of the changes applied to the clusters, by kind.
var appliedMessages = map[remoting.EventType]string{
	remoting.EventTypeAdd:    "endpoint added",
	remoting.EventTypeUpdate: "endpoint updated",
	remoting.EventTypeDel:    "endpoint removed",
}

// applied reports a change applied to the clusters: an INFO line and the discovery-event metric,
// whose type label is the kind's name (add, update, delete).
func (w *watched) applied(kind remoting.EventType, attrs []any) {
	w.adapter.env.Metrics.DiscoveryEvent(w.name, kind.String())
	w.adapter.logger.Info(appliedMessages[kind], attrs...)
}

// OnRejections records the entry's rejection set and logs what changed in it.
func (w *watched) OnRejections(rejections []*registry.MetadataError) {
	a := w.adapter
	a.mu.Lock()
	prev := w.rejected
	w.rejected = rejections
	a.mu.Unlock()

	type instance struct{ service, instance string }
	had := map[registry.MetadataError]bool{}
	hadInstance := map[instance]bool{}
	for _, r := range prev {
		had[*r] = true
		hadInstance[instance{r.Service, r.Instance}] = true
	}
	still := map[instance]bool{}
	for _, r := range rejections {
		still[instance{r.Service, r.Instance}] = true
		if !had[*r] {
			a.logger.Warn("instance rejected", "registry", w.name, "service", r.Service, "instance", r.Instance,
				"key", r.Key, "reason", r.Reason)
		}
	}
	for _, r := range prev {
		i := instance{r.Service, r.Instance}
		if hadInstance[i] && !still[i] {
			delete(hadInstance, i)
			a.logger.Info("instance no longer rejected", "registry", w.name, "service", r.Service, "instance", r.Instance)
		}
	}
	a.env.Metrics.SetRejected(w.name, len(rejections))
}

func endpointAttrs(registryName string, ev registry.Event) []any {
	return []any{"registry", registryName, "cluster", ev.Cluster, "endpoint", ev.Endpoint.ID,
		"service", ev.Service, "instance", ev.Instance}
}

// addressOf is what the proxy dials, for logs and status: the domains if any, else host:port.
func addressOf(ep *model.Endpoint) string {
	if len(ep.Address.Domains) > 0 {
		return strings.Join(ep.Address.Domains, ",")
	}
	return fmt.Sprintf("%s:%d", ep.Address.Address, ep.Address.Port)
}

// changedFields names what an update changed, without values (keys are secrets).
func changedFields(old, cur *model.Endpoint) []string {
	var out []string
	if old.Name != cur.Name {
		out = append(out, "name")
	}
	if !reflect.DeepEqual(old.Address, cur.Address) {
		out = append(out, "address")
	}
	if old.Weight != cur.Weight {
		out = append(out, "weight")
	}
	if !reflect.DeepEqual(old.Metadata, cur.Metadata) {
		out = append(out, "metadata")
	}
	o, c := old.LLMMeta, cur.LLMMeta
	if o == nil || c == nil {
		if o != c {
			out = append(out, "llm_meta")
		}
		return out
	}
	if !reflect.DeepEqual(o.Keys(), c.Keys()) {
		out = append(out, "api_keys")
	}
	if !reflect.DeepEqual(o.RetryPolicy, c.RetryPolicy) {
		out = append(out, "retry_policy")
	}
	if o.Fallback != c.Fallback {
		out = append(out, "fallback")
	}
	if o.HealthCheckInterval != c.HealthCheckInterval {
		out = append(out, "health_check_interval")
	}
	return out
}
