package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

// Canaries: distinctive secrets that must never be seen outside the upstream requests.
const (
	regKey        = "sk-canary-e2e-registry-4c1d9a7b"
	regKeyFlaky   = "canary-e2e-flaky-key-8e2f60" // not sk- shaped
	regKeyBadPort = "sk-canary-e2e-badport-13a5c2"
	regKeyBadJSON = "sk-canary-e2e-badjson-77b0e9"
	staticKey     = "sk-canary-e2e-static-0f9d3e"
	regPassword   = "canary-e2e-registry-password-a61c"
)

var canaries = []string{regKey, regKeyFlaky, regKeyBadPort, regKeyBadJSON, staticKey, regPassword}

// gatewayConfig routes /v1 by X-Cluster to flaky or static, else to chat; flaky and chat come
// from the registry (group at nacosAddr, with regPassword), static is one endpoint at staticAddr
// holding staticKey. Metrics and the admin API are on.
func gatewayConfig(nacosAddr, group, staticAddr string) string {
	var routes []*model.Router
	for _, c := range []string{"flaky", "static"} {
		r := gatewayconfig.Route("/v1", c)
		r.Match.Headers = []model.HeaderMatcher{{Name: "X-Cluster", Values: []string{c}}}
		routes = append(routes, r)
	}
	routes = append(routes, gatewayconfig.Route("/v1", "chat"))
	return gatewayconfig.YAML(&model.Bootstrap{
		StaticResources: model.StaticResources{
			Listeners: []*model.Listener{gatewayconfig.Listener("llm", 0, routes,
				gatewayconfig.Proxy(map[string]any{"timeout": "3s", "scheme": "http"}))},
			Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("static", "",
				gatewayconfig.Endpoint("static-wrong-key", staticAddr, &model.LLMMeta{APIKey: staticKey}))},
			Adapters: []*model.Adapter{gatewayconfig.RegistryAdapter(registry.Config{Protocol: "nacos", Address: nacosAddr,
				Timeout: 3 * time.Second, Group: group, Namespace: "public", Password: regPassword,
				RefreshInterval: 500 * time.Millisecond})},
			ShutdownConfig: gatewayconfig.Shutdown(5*time.Second, 5*time.Second),
		},
		Metric: model.Metric{Enable: true},
		Admin:  model.Admin{Enable: true, Address: "127.0.0.1:0"},
	})
}

func hostPort(t *testing.T, addr string) (string, uint64) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.ParseUint(port, 10, 16)
	require.NoError(t, err)
	return host, p
}

// TestRegistryStateIsVisibleAndSecretsAreNot registers LLM instances (good, failing and
// rejected ones, all carrying API keys) in a real registry, drives traffic through the gateway,
// and checks that the admin API and /metrics show what the gateway sees, while no key and no
// registry password shows up in logs, the admin API, /metrics or client responses.
func TestRegistryStateIsVisibleAndSecretsAreNot(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Polaris registry")
	}
	nacosAddr := polaris.ForTest(t)
	t.Setenv("NACOS_ADDRESS", "")

	good := llmstub.Start(t, llmstub.WithName("good"), llmstub.WithAPIKey(regKey))
	flaky := llmstub.Start(t, llmstub.WithName("flaky"), llmstub.WithDefault(llmstub.Status(503)))
	wrong := llmstub.Start(t, llmstub.WithName("wrong"), llmstub.WithAPIKey("sk-not-what-the-gateway-has-000"))
	group := fmt.Sprintf("e2e_observability_%d", time.Now().UnixNano())

	goodIP, goodPort := hostPort(t, good.Addr())
	flakyIP, flakyPort := hostPort(t, flaky.Addr())
	instances := []llmprovider.Instance{
		{Service: "llm-good", Group: group, IP: goodIP, Port: goodPort, Weight: 1, Metadata: map[string]string{
			"cluster": "chat", "id": "good", "name": "Good one", "llm-meta.api_key": regKey,
		}},
		{Service: "llm-flaky", Group: group, IP: flakyIP, Port: flakyPort, Weight: 1, Metadata: map[string]string{
			"cluster": "flaky", "id": "flaky", "llm-meta.api_keys": `["` + regKeyFlaky + `"]`,
			"llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{"times": 1}`,
		}},
		{Service: "llm-broken", Group: group, IP: "127.0.0.1", Port: 1, Weight: 1, Metadata: map[string]string{
			"cluster": "chat", "id": "bad-port", "port": "70000", "llm-meta.api_key": regKeyBadPort,
		}},
		{Service: "llm-broken", Group: group, IP: "127.0.0.1", Port: 2, Weight: 1, Metadata: map[string]string{
			"cluster": "chat", "id": "bad-json", "llm-meta.api_keys": `["` + regKeyBadJSON, "llm-meta.api_key": regKeyBadJSON,
		}},
	}
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: nacosAddr, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, in := range instances {
			_ = reg.Deregister(in)
		}
		_ = reg.Close()
	})
	for _, in := range instances {
		require.NoError(t, reg.Register(in))
	}

	g := gatewaytest.Start(t, gatewayConfig(nacosAddr, group, wrong.Addr()))
	logs := g.Logs
	base := g.URL("llm")
	adminBase := "http://" + g.AdminAddr().String()
	metricsURL := "http://" + g.MetricsAddr().String() + "/metrics"
	client := &http.Client{Timeout: 20 * time.Second}

	var seen strings.Builder // everything an operator or a client got to read
	get := func(url string) string {
		resp, err := client.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		seen.Write(b)
		return string(b)
	}
	send := func(cluster, body string) int {
		req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Cluster", cluster)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		fmt.Fprintf(&seen, "%d %v %s\n", resp.StatusCode, resp.Header, b)
		return resp.StatusCode
	}

	// The registry's view arrives: two endpoints routed, two instances rejected.
	type registryStatus struct {
		Name      string `json:"name"`
		Reachable bool   `json:"reachable"`
		Endpoints []struct {
			Cluster, ID string
		} `json:"endpoints"`
		Rejected []struct {
			Service, Instance, Key, Reason string
		} `json:"rejected"`
	}
	var status registryStatus
	require.Eventually(t, func() bool {
		var v struct {
			Adapters []struct {
				ID     string           `json:"id"`
				Status []registryStatus `json:"status"`
			} `json:"adapters"`
		}
		if json.Unmarshal([]byte(get(adminBase+"/admin/registries")), &v) != nil || len(v.Adapters) != 1 || len(v.Adapters[0].Status) != 1 {
			return false
		}
		status = v.Adapters[0].Status[0]
		return status.Reachable && len(status.Endpoints) == 2 && len(status.Rejected) == 2
	}, 60*time.Second, 200*time.Millisecond, "the admin API never showed the registry state; last: %+v", status)
	assert.Equal(t, "nacos", status.Name)
	t.Logf("rejected: %+v", status.Rejected)
	rejectedKeys := map[string]bool{}
	for _, r := range status.Rejected {
		assert.Equal(t, "llm-broken", r.Service)
		assert.NotEmpty(t, r.Instance)
		assert.NotEmpty(t, r.Reason)
		rejectedKeys[r.Key] = true
	}
	assert.True(t, rejectedKeys["port"], "the bad port is reported against its key: %+v", status.Rejected)

	var clusters struct {
		Clusters []struct {
			Name      string `json:"name"`
			Endpoints []struct {
				ID     string `json:"id"`
				Source string `json:"source"`
				LLM    struct {
					Keys int `json:"keys"`
				} `json:"llm"`
			} `json:"endpoints"`
		} `json:"clusters"`
	}
	require.NoError(t, json.Unmarshal([]byte(get(adminBase+"/admin/clusters")), &clusters))
	sources := map[string]string{}
	for _, c := range clusters.Clusters {
		for _, ep := range c.Endpoints {
			sources[c.Name+"/"+ep.ID] = ep.Source
			assert.Equal(t, 1, ep.LLM.Keys, "%s/%s", c.Name, ep.ID)
		}
	}
	assert.Equal(t, map[string]string{"chat/good": "llm-registry", "flaky/flaky": "llm-registry", "static/static-wrong-key": "static"}, sources)

	// Traffic: success (unary and stream), retried 503s, a 401 from a static endpoint.
	assert.Equal(t, http.StatusOK, send("chat", `{"model":"stub-model","messages":[{"role":"user","content":"say hi"}]}`))
	assert.Equal(t, http.StatusOK, send("chat", `{"model":"stub-model","stream":true,"messages":[{"role":"user","content":"say hi"}]}`))
	last, ok := good.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer "+regKey, last.Header.Get("Authorization"), "the registry key does reach its upstream")
	assert.Equal(t, http.StatusServiceUnavailable, send("flaky", `{"model":"m","messages":[]}`))
	assert.Equal(t, 2, flaky.Count())
	assert.Equal(t, http.StatusUnauthorized, send("static", `{"model":"m","messages":[]}`))

	s := metricstest.Parse(t, get(metricsURL))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_registry_up", metricstest.Labels{"registry": "nacos"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_registry_rejected_instances", metricstest.Labels{"registry": "nacos"}))
	assert.GreaterOrEqual(t, s.Value(t, "pixiu_registry_discovery_events_total", metricstest.Labels{"registry": "nacos", "type": "add"}), 2.0)
	assert.Greater(t, s.Value(t, "pixiu_registry_last_sync_timestamp_seconds", metricstest.Labels{"registry": "nacos"}), float64(time.Now().Add(-time.Minute).Unix()))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_cluster_endpoints", metricstest.Labels{"cluster": "chat", "source": "llm-registry"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_cluster_endpoints", metricstest.Labels{"cluster": "flaky", "source": "llm-registry"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_requests_total", metricstest.Labels{"cluster": "chat", "endpoint": "good", "code": "2xx"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_upstream_attempts_total", metricstest.Labels{"cluster": "flaky", "endpoint": "flaky", "outcome": "5xx"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_retries_total", metricstest.Labels{"cluster": "flaky", "endpoint": "flaky"}))

	get(adminBase + "/readyz")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))

	require.Contains(t, logs.String(), "level=DEBUG")
	for where, out := range map[string]string{"logs": logs.String(), "admin API, /metrics and client responses": seen.String()} {
		for _, c := range canaries {
			assert.NotContains(t, out, c, "%s leak a secret", where)
		}
	}
}
