package llmregistry_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// fakeRegistry is a registry kind the tests drive by hand through the shared tracker, so the
// adapter core is exercised exactly as a real registry would drive it.
type fakeRegistry struct {
	cfg     registry.Config
	mu      sync.Mutex
	tracker *base.Tracker
	stopped atomic.Int32
}

var fakes sync.Map // address → *fakeRegistry

func init() {
	registry.Register("fake", func(cfg registry.Config, env registry.Env) (registry.Watcher, error) {
		switch cfg.Address {
		case "fail":
			return nil, errors.New("cannot reach the moon")
		case "nil":
			return nil, nil
		}
		f := &fakeRegistry{cfg: cfg}
		fakes.Store(cfg.Address, f)
		return f, nil
	})
}

func (f *fakeRegistry) Start(l registry.Listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracker = base.New(l)
}

func (f *fakeRegistry) Stop() { f.stopped.Add(1) }

func (f *fakeRegistry) Health() registry.Health {
	return registry.Health{Address: f.cfg.Address, Reachable: true, LastSync: time.Unix(1700000000, 0), Services: []string{"svc"}}
}

func (f *fakeRegistry) sync(service string, in ...registry.Instance) {
	f.mu.Lock()
	tr := f.tracker
	f.mu.Unlock()
	tr.Sync(service, in)
}

func fake(t *testing.T, address string) *fakeRegistry {
	t.Helper()
	v, ok := fakes.Load(address)
	require.True(t, ok, "no fake registry at %q", address)
	return v.(*fakeRegistry)
}

func inst(ip string, kv ...string) registry.Instance {
	meta := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		meta[kv[i]] = kv[i+1]
	}
	return registry.Instance{IP: ip, Port: 8000, Weight: 1, Healthy: true, Enabled: true, Metadata: meta}
}

type fixture struct {
	cm      *server.ClusterManager
	adapter *llmregistry.Adapter
	metrics *metrics.Metrics
	logs    *logcapture.Buffer
}

// newAdapter builds a cluster manager with a static "chat" cluster and an applied, started
// adapter with the given raw config.
func newAdapter(t *testing.T, raw map[string]any) (*fixture, error) {
	t.Helper()
	m := metrics.New()
	cm, err := server.NewClusterManager([]*model.ClusterConfig{{
		Name: "chat", LbStr: "RoundRobin",
		Endpoints: []*model.Endpoint{{ID: "static-1", Address: model.SocketAddress{Address: "127.0.0.1", Port: 9}}},
	}}, m)
	require.NoError(t, err)
	logs := &logcapture.Buffer{}
	env := adapter.Env{Endpoints: cm.ForSource("llm-registry"), Logger: slog.New(slog.NewTextHandler(logs, nil)), Metrics: m}
	plugin, err := adapter.GetAdapterPlugin(llmregistry.Kind)
	require.NoError(t, err)
	a, err := plugin.CreateAdapter(&model.Adapter{ID: "llm-registry", Name: llmregistry.Kind, Config: raw}, env)
	require.NoError(t, err)
	if _, err := config.Decode(raw, a.Config(), "config"); err != nil {
		return nil, err
	}
	f := &fixture{cm: cm, adapter: a.(*llmregistry.Adapter), metrics: m, logs: logs}
	if err := a.Apply(); err != nil {
		return f, err
	}
	a.Start()
	t.Cleanup(a.Stop)
	return f, nil
}

func fakeConfig(names ...string) map[string]any {
	regs := map[string]any{}
	for _, n := range names {
		regs[n] = map[string]any{"protocol": "fake", "address": n, "password": "hunter2-password"}
	}
	return map[string]any{"registries": regs}
}

// An update from the registry replaces the LLM settings in the cluster manager.
func TestRegistryUpdateReplacesLLMSettings(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("p9"))
	require.NoError(t, err)
	reg := fake(t, "p9")

	reg.sync("ds", inst("10.0.0.1", "cluster", "chat", "id", "ds", "llm-meta.api_key", "sk-1"))
	m := f.cm.Cluster("chat").Member("ds")
	require.NotNil(t, m)
	assert.Equal(t, []string{"sk-1"}, m.Keys)
	assert.Equal(t, 1, m.Retry.Attempts())
	assert.False(t, m.Fallback())
	assert.Equal(t, "llm-registry", m.Source)

	reg.sync("ds", inst("10.0.0.2", "cluster", "chat", "id", "ds", "llm-meta.api_keys", `["sk-2","sk-3"]`,
		"llm-meta.retry_policy.name", "countbased", "llm-meta.retry_policy.config", `{"times": 2}`, "llm-meta.fallback", "true"))
	m = f.cm.Cluster("chat").Member("ds")
	require.NotNil(t, m)
	assert.Equal(t, []string{"sk-2", "sk-3"}, m.Keys, "api keys replaced")
	assert.Equal(t, 3, m.Retry.Attempts(), "retry policy replaced")
	assert.True(t, m.Fallback(), "fallback replaced")
	assert.Equal(t, "10.0.0.2", m.Endpoint.Address.Address, "address replaced")
	assert.Len(t, f.cm.Cluster("chat").Members, 2, "replaced, not added")

	reg.sync("ds")
	assert.Nil(t, f.cm.Cluster("chat").Member("ds"))
	assert.NotNil(t, f.cm.Cluster("chat").Member("static-1"), "static endpoints are untouched")
}

func TestStaticEndpointIsNeverOverwritten(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("static"))
	require.NoError(t, err)
	fake(t, "static").sync("ds", inst("10.0.0.1", "cluster", "chat", "id", "static-1"))
	m := f.cm.Cluster("chat").Member("static-1")
	require.NotNil(t, m)
	assert.Equal(t, "static", m.Source)
	assert.Equal(t, "127.0.0.1", m.Endpoint.Address.Address)

	st := f.adapter.Status()
	require.Len(t, st, 1)
	require.Len(t, st[0].Rejected, 1, "the conflict is reported")
	assert.Equal(t, "id", st[0].Rejected[0].Key)
	assert.Equal(t, "ds", st[0].Rejected[0].Service)
	assert.Contains(t, st[0].Rejected[0].Reason, "static")
	assert.Empty(t, st[0].Endpoints)
}

func TestNewClusterIsCreated(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("newcluster"))
	require.NoError(t, err)
	fake(t, "newcluster").sync("emb", inst("10.0.0.1", "cluster", "embeddings", "id", "e1"))
	c := f.cm.Cluster("embeddings")
	require.NotNil(t, c)
	assert.Equal(t, "RoundRobin", c.LbPolicy)
	require.NotNil(t, c.Member("e1"))
}

func TestTwoRegistriesClaimingOneEndpoint(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("reg-a", "reg-b"))
	require.NoError(t, err)
	fake(t, "reg-a").sync("ds", inst("10.0.0.1", "cluster", "chat", "id", "shared", "name", "from-a"))
	fake(t, "reg-b").sync("ds", inst("10.0.0.2", "cluster", "chat", "id", "shared", "name", "from-b"))
	assert.Equal(t, "from-a", f.cm.Cluster("chat").Member("shared").Endpoint.Name)
	st := f.adapter.Status()
	require.Len(t, st, 2)
	assert.Equal(t, "reg-b", st[1].Name)
	require.Len(t, st[1].Rejected, 1)
	assert.Contains(t, st[1].Rejected[0].Reason, `already belongs to "reg-a"`)

	fake(t, "reg-a").sync("ds")
	fake(t, "reg-b").sync("ds", inst("10.0.0.2", "cluster", "chat", "id", "shared", "name", "from-b"))
	assert.Equal(t, "from-b", f.cm.Cluster("chat").Member("shared").Endpoint.Name, "taken over once released")
	assert.Empty(t, f.adapter.Status()[1].Rejected)
}

// Apply errors name the registry and leave nothing half-built.
func TestApplyErrorsNameTheRegistryAndLeaveNothingHalfBuilt(t *testing.T) {
	cases := map[string]struct {
		raw  map[string]any
		want []string
	}{
		"unknown protocol": {map[string]any{"registries": map[string]any{"zk-main": map[string]any{"protocol": "zookeeper", "address": "x"}}},
			[]string{`registry "zk-main"`, `unknown protocol "zookeeper"`, "nacos"}},
		"no protocol": {map[string]any{"registries": map[string]any{"r": map[string]any{"address": "x"}}},
			[]string{`registry "r"`, "protocol is not set"}},
		"failing factory": {map[string]any{"registries": map[string]any{"moon": map[string]any{"protocol": "fake", "address": "fail"}}},
			[]string{`registry "moon"`, "cannot reach the moon"}},
		"factory without registry": {map[string]any{"registries": map[string]any{"void": map[string]any{"protocol": "fake", "address": "nil"}}},
			[]string{`registry "void"`, "built no registry"}},
		"nacos without address": {map[string]any{"registries": map[string]any{"nacos": map[string]any{"protocol": "nacos"}}},
			[]string{`registry "nacos"`, "address"}},
		"nacos bad timeout": {map[string]any{"registries": map[string]any{"nacos": map[string]any{"protocol": "nacos", "address": "127.0.0.1:8848", "timeout": "-1s"}}},
			[]string{`registry "nacos"`, "timeout"}},
		"no registries": {map[string]any{}, []string{"no registry configured"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("NACOS_ADDRESS", "")
			f, err := newAdapter(t, tc.raw)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			// A host that ignored the error must still not crash.
			f.adapter.Start()
			assert.Empty(t, f.adapter.Status())
			f.adapter.Stop()
		})
	}
}

func TestConfigDecodesWithDefaults(t *testing.T) {
	raw := map[string]any{"registries": map[string]any{"decoded": map[string]any{
		"protocol": "fake", "address": "decoded", "timeout": "2s", "refresh_interval": "1s", "page_size": 50,
		"group": "llm", "namespace": "prod", "username": "u", "password": "p", "refresh_intervall": "typo",
	}}}
	f, err := newAdapter(t, raw)
	require.NoError(t, err)
	cfg := fake(t, "decoded").cfg
	assert.Equal(t, 2*time.Second, cfg.Timeout)
	assert.Equal(t, time.Second, cfg.RefreshInterval)
	assert.Equal(t, 50, cfg.PageSize)
	assert.Equal(t, "llm", cfg.Group)
	assert.Equal(t, "prod", cfg.Namespace)
	assert.Contains(t, f.logs.String(), "registries.decoded.refresh_intervall", "unknown keys are reported")

	_, err = newAdapter(t, map[string]any{"registries": map[string]any{"defaults": map[string]any{"protocol": "fake", "address": "defaults"}}})
	require.NoError(t, err)
	cfg = fake(t, "defaults").cfg
	assert.Equal(t, registry.DefaultTimeout, cfg.Timeout)
	assert.Equal(t, registry.DefaultRefreshInterval, cfg.RefreshInterval)
	assert.LessOrEqual(t, cfg.RefreshInterval, 5*time.Second)
	assert.Equal(t, registry.DefaultPageSize, cfg.PageSize)
}

func TestStatusAndLogsHoldNoSecrets(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("secrets"))
	require.NoError(t, err)
	reg := fake(t, "secrets")
	reg.sync("ds",
		inst("10.0.0.1", "cluster", "chat", "id", "ds", "llm-meta.api_key", "sk-live-AAAA1111", "llm-meta.api_keys", `["sk-live-BBBB2222"]`),
		inst("10.0.0.2", "cluster", "chat", "id", "bad", "llm-meta.api_key", "sk-live-CCCC3333", "port", "99999"),
	)
	reg.sync("ds",
		inst("10.0.0.1", "cluster", "chat", "id", "ds", "llm-meta.api_key", "sk-live-DDDD4444"),
		inst("10.0.0.2", "cluster", "chat", "id", "bad", "llm-meta.api_key", "sk-live-CCCC3333", "port", "99999"),
	)
	st := f.adapter.Status()
	require.Len(t, st, 1)
	assert.Equal(t, llmregistry.RegistryStatus{
		Name: "secrets", Protocol: "fake", Address: "secrets", Reachable: true, LastSync: time.Unix(1700000000, 0),
		Services: []string{"svc"},
		Endpoints: []llmregistry.EndpointStatus{{Cluster: "chat", ID: "ds", Name: "ds", Service: "ds", Instance: "10.0.0.1:8000",
			Address: "10.0.0.1:8000", Weight: 1, Keys: 1}},
		Rejected: []llmregistry.RejectedInstance{{Service: "ds", Instance: "10.0.0.2:8000", Key: "port", Reason: st[0].Rejected[0].Reason}},
	}, st[0])

	out, err := json.Marshal(st)
	require.NoError(t, err)
	for _, secret := range []string{"sk-live", "hunter2"} {
		assert.NotContains(t, string(out), secret, "status")
		assert.NotContains(t, f.logs.String(), secret, "logs")
	}
	assert.Contains(t, f.logs.String(), "changed=[api_keys]", "an update names what changed, not the values")
}

func TestOneLogLineAndMetricPerChange(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("quiet"))
	require.NoError(t, err)
	reg := fake(t, "quiet")
	good := inst("10.0.0.1", "cluster", "chat", "id", "a")
	bad := inst("10.0.0.2", "id", "b") // no cluster
	for i := 0; i < 10; i++ {
		reg.sync("ds", good, bad)
	}
	logs := f.logs.String()
	assert.Equal(t, 1, strings.Count(logs, "endpoint added"), logs)
	assert.Equal(t, 1, strings.Count(logs, "instance rejected"), logs)
	assert.Contains(t, logs, "key=cluster")
	assert.Equal(t, 1.0, gauge(t, f.metrics, "pixiu_registry_rejected_instances", "quiet"))
	assert.Equal(t, 1.0, counter(t, f.metrics, "pixiu_registry_discovery_events_total", "quiet", "add"))

	for i := 0; i < 5; i++ {
		reg.sync("ds", good)
	}
	logs = f.logs.String()
	assert.Equal(t, 1, strings.Count(logs, "instance no longer rejected"), logs)
	assert.Equal(t, 0.0, gauge(t, f.metrics, "pixiu_registry_rejected_instances", "quiet"))

	reg.sync("ds")
	assert.Equal(t, 1, strings.Count(f.logs.String(), "endpoint removed"))
	assert.Equal(t, 1.0, counter(t, f.metrics, "pixiu_registry_discovery_events_total", "quiet", "delete"))
}

func TestStopStopsEveryRegistryOnce(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("s1", "s2"))
	require.NoError(t, err)
	f.adapter.Stop()
	f.adapter.Stop()
	assert.Equal(t, int32(1), fake(t, "s1").stopped.Load())
	assert.Equal(t, int32(1), fake(t, "s2").stopped.Load())
}

func gauge(t *testing.T, m *metrics.Metrics, name, reg string) float64 {
	return metricValue(t, m, name, map[string]string{"registry": reg})
}

func counter(t *testing.T, m *metrics.Metrics, name, reg, typ string) float64 {
	return metricValue(t, m, name, map[string]string{"registry": reg, "type": typ})
}

func metricValue(t *testing.T, m *metrics.Metrics, name string, labels metricstest.Labels) float64 {
	t.Helper()
	return metricstest.Gather(t, m.Registry).Value(t, name, labels)
}

// A registry config error reaches the operator as file:line and the key path inside pixiu.yaml.
func TestRegistryConfigErrorNamesLineAndKey(t *testing.T) {
	yaml := `static_resources:
  adapters:
    - id: llm-registry
      name: dgp.adapter.llmregistrycenter
      config:
        registries:
          zk:
            protocol: zookeeper
            address: 127.0.0.1:2181
`
	doc, err := config.Load("pixiu.yaml", []byte(yaml))
	require.NoError(t, err)
	_, err = server.New(doc, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pixiu.yaml:8: static_resources.adapters[0].config.registries.zk.protocol")
	assert.Contains(t, err.Error(), `unknown protocol "zookeeper"`)
}
