package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/admin"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/model"
	"github.com/pixiu-llm/gateway/pkg/server"
)

const (
	canaryKey      = "sk-canary-admin-7f3a9c1e5b"
	canaryKey2     = "canary-second-key-41d2"
	canaryRegKey   = "sk-canary-registry-88e0a1"
	canaryPassword = "canary-registry-password-5c9"
)

var allCanaries = []string{canaryKey, canaryKey2, canaryRegKey, canaryPassword}

// testPolicy is a retry policy of this test only, so the admin tests do not depend on the
// proxy's policies.
type testPolicy struct{ attempts int }

func (p testPolicy) Name() string               { return "AdminTestRetry" }
func (p testPolicy) Attempts() int              { return p.attempts }
func (p testPolicy) Backoff(int) time.Duration  { return 0 }
func (p testPolicy) MaxInterval() time.Duration { return 0 }

func init() {
	retry.Register("AdminTestRetry", func(cfg map[string]any) (retry.Policy, error) {
		times, _ := cfg["times"].(int)
		return testPolicy{attempts: times + 1}, nil
	})
}

// fakeRegistry is an adapter reporting a registry status, with a secret in its config.
type fakeRegistry struct{ reachable atomic.Bool }

func (*fakeRegistry) Config() any  { return nil }
func (*fakeRegistry) Apply() error { return nil }
func (*fakeRegistry) Start()       {}
func (*fakeRegistry) Stop()        {}

type registryStatus struct {
	Name      string            `json:"name"`
	Reachable bool              `json:"reachable"`
	LastSync  time.Time         `json:"last_sync"`
	Config    map[string]string `json:"config"`
	Services  []string          `json:"services"`
	Endpoints []string          `json:"endpoints"`
	Rejected  []rejection       `json:"rejected"`
}

type rejection struct {
	Service, Instance, Key, Reason string
}

// Report reports the registry status and its reachability, like the llmregistry adapter's.
func (f *fakeRegistry) Report() adapter.Report {
	st := f.Status()
	return adapter.Report{Status: st, Reachable: map[string]bool{st[0].Name: st[0].Reachable}}
}

func (f *fakeRegistry) Status() []registryStatus {
	return []registryStatus{{
		Name:      "nacos",
		Reachable: f.reachable.Load(),
		LastSync:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Config:    map[string]string{"address": "127.0.0.1:8848", "password": canaryPassword},
		Services:  []string{"deepseek"},
		Endpoints: []string{"chat/registry-1"},
		Rejected: []rejection{{Service: "broken", Instance: "10.0.0.1:80", Key: "llm-meta.retry_policy.config",
			Reason: "bad JSON near " + canaryRegKey}},
	}}
}

type silentAdapter struct{}

func (silentAdapter) Config() any  { return nil }
func (silentAdapter) Apply() error { return nil }
func (silentAdapter) Start()       {}
func (silentAdapter) Stop()        {}

type panickyAdapter struct{ silentAdapter }

func (panickyAdapter) Report() adapter.Report { panic("status exploded with " + canaryKey) }

type adapters map[string]adapter.Adapter

func (a adapters) Adapters() map[string]adapter.Adapter { return a }

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newClusterManager(t *testing.T) *server.ClusterManager {
	t.Helper()
	cm, err := server.NewClusterManager([]*model.ClusterConfig{{
		Name:  "chat",
		LbStr: "RoundRobin",
		Endpoints: []*model.Endpoint{
			{
				ID: "primary", Name: "Primary",
				Address: model.SocketAddress{Domains: []string{"api.example.com"}},
				LLMMeta: &model.LLMMeta{
					Fallback: true, APIKey: canaryKey, APIKeys: []string{canaryKey2},
					RetryPolicy:         model.RetryPolicy{Name: "AdminTestRetry", Config: map[string]any{"times": 2, "api_key": canaryKey}},
					HealthCheckInterval: 5000,
					Models:              []string{"chat-model", "reasoner"},
				},
			},
			{
				ID: "backup", Address: model.SocketAddress{Address: "127.0.0.1", Port: 9000}, Weight: 3,
			},
		},
	}}, nil)
	require.NoError(t, err)
	require.NoError(t, cm.ForSource("llm-registry").SetEndpoint("chat", &model.Endpoint{
		ID: "registry-1", Name: "From Nacos",
		Address: model.SocketAddress{Address: "10.1.2.3", Port: 8080},
		Metadata: map[string]string{
			"cluster": "chat", "id": "registry-1", "llm-meta.api_key": canaryRegKey, "note": "key " + canaryRegKey,
		},
		LLMMeta: &model.LLMMeta{APIKey: canaryRegKey},
	}))
	require.NoError(t, cm.ForSource("llm-registry").SetEndpoint("embeddings", &model.Endpoint{
		ID: "emb", Address: model.SocketAddress{Domains: []string{"https://emb.example.com/v1"}},
	}))
	return cm
}

type fixture struct {
	cm      *server.ClusterManager
	serving atomic.Bool
	reg     *fakeRegistry
	base    string
	srv     *admin.Server
}

func start(t *testing.T, address string) *fixture {
	t.Helper()
	f := &fixture{cm: newClusterManager(t), reg: &fakeRegistry{}}
	f.reg.reachable.Store(true)
	f.serving.Store(true)
	srv, err := admin.New(model.Admin{Enable: true, Address: address}, admin.Sources{
		Clusters: f.cm,
		Adapters: adapters{"llm-registry": f.reg, "plain": silentAdapter{}, "broken": panickyAdapter{}},
		Listeners: func() map[string]net.Addr {
			return map[string]net.Addr{"llm_proxy": &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8888}}
		},
		Serving: f.serving.Load,
		Now:     func() time.Time { return now },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	f.srv = srv
	f.base = "http://" + srv.Addr().String()
	return f
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode < 400 || resp.StatusCode == http.StatusServiceUnavailable {
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(body)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

func assertNoCanary(t *testing.T, where, out string) {
	t.Helper()
	for _, c := range allCanaries {
		assert.NotContains(t, out, c, where)
	}
}

func TestClusters(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	chat := f.cm.Cluster("chat")
	chat.Member("primary").Health.CoolDownUntil(now.Add(4 * time.Second))

	status, body := get(t, f.base+"/admin/clusters")
	require.Equal(t, http.StatusOK, status, body)
	assertNoCanary(t, "/admin/clusters", body)
	v := decode[admin.ClustersView](t, body)
	assert.Equal(t, now, v.GeneratedAt)
	require.Len(t, v.Clusters, 2)
	assert.Equal(t, "chat", v.Clusters[0].Name, "sorted by name")
	assert.Equal(t, "embeddings", v.Clusters[1].Name)

	c := v.Clusters[0]
	assert.Equal(t, "RoundRobin", c.LbPolicy)
	assert.Equal(t, 2, c.Available, "primary is cooling down")
	require.Len(t, c.Endpoints, 3)
	var ids, sources []string
	for i, ep := range c.Endpoints {
		assert.Equal(t, i, ep.Position)
		ids = append(ids, ep.ID)
		sources = append(sources, ep.Source)
	}
	assert.Equal(t, []string{"primary", "backup", "registry-1"}, ids, "cluster order: static first, then registry")
	assert.Equal(t, []string{"static", "static", "llm-registry"}, sources)

	primary := c.Endpoints[0]
	assert.Equal(t, "Primary", primary.Name)
	assert.Equal(t, []string{"api.example.com"}, primary.Address.Domains)
	assert.Equal(t, 1.0, primary.Weight, "no weight counts as 1")
	assert.True(t, primary.Cooldown.CoolingDown)
	require.NotNil(t, primary.Cooldown.Until)
	assert.True(t, now.Add(4*time.Second).Equal(*primary.Cooldown.Until))
	assert.Equal(t, int64(4000), primary.Cooldown.RemainingMS)
	assert.True(t, primary.LLM.Fallback)
	assert.Equal(t, 2, primary.LLM.Keys)
	assert.Equal(t, int64(5000), primary.LLM.HealthCheckInterval)
	assert.Equal(t, []string{"chat-model", "reasoner"}, primary.LLM.Models)
	assert.Equal(t, "AdminTestRetry", primary.LLM.RetryPolicy.Name)
	assert.Equal(t, 3, primary.LLM.RetryPolicy.Attempts)
	assert.Equal(t, map[string]any{"times": 2.0, "api_key": "[redacted]"}, primary.LLM.RetryPolicy.Config)

	backup := c.Endpoints[1]
	assert.Equal(t, admin.AddressView{Address: "127.0.0.1", Port: 9000}, backup.Address)
	assert.Equal(t, 3.0, backup.Weight)
	assert.False(t, backup.Cooldown.CoolingDown)
	assert.Nil(t, backup.Cooldown.Until)
	assert.Equal(t, 0, backup.LLM.Keys)
	assert.False(t, backup.LLM.Fallback)
	assert.Equal(t, "NoRetry", backup.LLM.RetryPolicy.Name)
	assert.Equal(t, 1, backup.LLM.RetryPolicy.Attempts)

	reg := c.Endpoints[2]
	assert.Equal(t, 1, reg.LLM.Keys)
	assert.Equal(t, "[redacted]", reg.Meta["llm-meta.api_key"])
	assert.Equal(t, "key [redacted]", reg.Meta["note"])
	assert.Equal(t, "chat", reg.Meta["cluster"])

	// A cooldown that ended is reported with its end time but not as cooling down.
	chat.Member("primary").Health.CoolDownUntil(now.Add(-time.Second))
	_, body = get(t, f.base+"/admin/clusters/chat")
	one := decode[admin.ClusterView](t, body)
	assert.Equal(t, 3, one.Available)
	assert.False(t, one.Endpoints[0].Cooldown.CoolingDown)
	assert.NotNil(t, one.Endpoints[0].Cooldown.Until)
	assert.Zero(t, one.Endpoints[0].Cooldown.RemainingMS)
}

func TestClustersFollowUpdates(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	require.NoError(t, f.cm.ForSource("llm-registry").DeleteEndpoint("chat", "registry-1"))
	require.NoError(t, f.cm.ForSource("llm-registry").SetEndpoint("chat", &model.Endpoint{
		ID: "registry-2", Address: model.SocketAddress{Address: "10.9.9.9", Port: 80},
		LLMMeta: &model.LLMMeta{Fallback: true},
	}))
	_, body := get(t, f.base+"/admin/clusters/chat")
	c := decode[admin.ClusterView](t, body)
	var ids []string
	for _, ep := range c.Endpoints {
		ids = append(ids, ep.ID)
	}
	assert.Equal(t, []string{"primary", "backup", "registry-2"}, ids)
	assert.True(t, c.Endpoints[2].LLM.Fallback)
}

func TestClusterNotFoundAndUnknownPaths(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	status, body := get(t, f.base+"/admin/clusters/nope")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body, `no cluster \"nope\"`)

	status, body = get(t, f.base+"/admin/whatever")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body, "/admin/clusters")

	resp, err := http.Post(f.base+"/admin/clusters", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "the admin API is read-only")
}

func TestRegistries(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	status, body := get(t, f.base+"/admin/registries")
	require.Equal(t, http.StatusOK, status)
	assertNoCanary(t, "/admin/registries", body)

	v := decode[struct {
		Adapters []struct {
			ID            string           `json:"id"`
			ReportsStatus bool             `json:"reports_status"`
			Status        []registryStatus `json:"status"`
			Error         string           `json:"error"`
		} `json:"adapters"`
	}](t, body)
	require.Len(t, v.Adapters, 3)
	assert.Equal(t, "broken", v.Adapters[0].ID)
	assert.True(t, v.Adapters[0].ReportsStatus)
	assert.Contains(t, v.Adapters[0].Error, "status exploded")

	nacos := v.Adapters[1]
	assert.Equal(t, "llm-registry", nacos.ID)
	require.Len(t, nacos.Status, 1)
	st := nacos.Status[0]
	assert.True(t, st.Reachable)
	assert.Equal(t, "[redacted]", st.Config["password"])
	assert.Equal(t, "127.0.0.1:8848", st.Config["address"])
	assert.Equal(t, []string{"deepseek"}, st.Services)
	assert.Equal(t, []string{"chat/registry-1"}, st.Endpoints)
	require.Len(t, st.Rejected, 1)
	assert.Equal(t, rejection{Service: "broken", Instance: "10.0.0.1:80", Key: "llm-meta.retry_policy.config",
		Reason: "bad JSON near [redacted]"}, st.Rejected[0])

	assert.Equal(t, "plain", v.Adapters[2].ID)
	assert.False(t, v.Adapters[2].ReportsStatus)
	assert.Nil(t, v.Adapters[2].Status)
}

func TestHealthAndReadiness(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	status, body := get(t, f.base+"/healthz")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"status":"ok"}`, body)

	status, body = get(t, f.base+"/readyz")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"ready":true,"listeners":{"llm_proxy":"127.0.0.1:8888"},
		"adapters":{"broken":{},"llm-registry":{"reachable":true,"registries":{"nacos":true}}}}`, body)

	f.reg.reachable.Store(false)
	status, body = get(t, f.base+"/readyz")
	assert.Equal(t, http.StatusOK, status, "an unreachable registry does not make the gateway unready")
	assert.Contains(t, body, `"reachable": false`)

	f.serving.Store(false)
	status, body = get(t, f.base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, body, `"ready": false`)

	status, _ = get(t, f.base+"/healthz")
	assert.Equal(t, http.StatusOK, status, "liveness does not depend on readiness")
}

func TestBindsLoopbackByDefault(t *testing.T) {
	for _, address := range []string{":0", "0"} {
		f := start(t, address)
		addr := f.srv.Addr().(*net.TCPAddr)
		assert.True(t, addr.IP.Equal(net.IPv4(127, 0, 0, 1)), "%q bound %s", address, addr)
	}
	got, err := admin.ResolveAddress("")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8889", got)
	got, err = admin.ResolveAddress("0.0.0.0:9000")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:9000", got, "every interface only when asked for")

	for _, bad := range []string{"nowhere", "example.com:80", "127.0.0.1:http", "127.0.0.1:70000"} {
		_, err := admin.New(model.Admin{Enable: true, Address: bad}, admin.Sources{Clusters: newClusterManager(t)}, nil)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "admin.address", bad)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", bad), bad)
	}
}

func TestPortInUse(t *testing.T) {
	f := start(t, "127.0.0.1:0")
	srv, err := admin.New(model.Admin{Enable: true, Address: f.srv.Addr().String()}, admin.Sources{Clusters: f.cm}, nil)
	require.NoError(t, err)
	err = srv.Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "admin.address")
	assert.Contains(t, err.Error(), "address already in use")
}
