package admin_test

// Secret hygiene, end to end: a gateway whose static endpoints hold distinctive API keys and whose
// registry adapter holds a distinctive password serves traffic that succeeds and fails in every
// way (401 and 500 from upstreams, retries, fallback, unreachable upstreams); the secrets must
// then appear nowhere an operator or a client can read: logs at debug level, /metrics, the admin
// API, client-facing error bodies.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

const (
	hygieneKey      = "sk-canary-hygiene-1b7e42d09c"
	hygieneKey2     = "sk-canary-hygiene-rotated-55aa01"
	hygieneKey3     = "canary-plain-key-9d3f7e21" // not sk- shaped: only name-based redaction can catch it
	hygienePassword = "canary-nacos-password-3e8b6f"
	upstreamKey     = "sk-upstream-expects-this-one-00"
)

var hygieneSecrets = []string{hygieneKey, hygieneKey2, hygieneKey3, hygienePassword}

// hygieneConfig spreads the secrets over every place a config can hold one: endpoint keys, key
// lists, an endpoint name, the registry password. A request's X-Cluster header picks its cluster.
func hygieneConfig(keyedAddr, wrongAddr, flakyAddr, closedAddr string) string {
	var routes []*model.Router
	for _, c := range []string{"keyed", "unauthorized", "failing", "gone"} {
		r := gatewayconfig.Route("/v1", c)
		r.Match.Headers = []model.HeaderMatcher{{Name: "X-Cluster", Values: []string{c}}}
		routes = append(routes, r)
	}
	gone := gatewayconfig.Endpoint("gone", closedAddr, &model.LLMMeta{APIKey: hygieneKey2})
	gone.Name = "gone (keys " + hygieneKey2 + ")"
	registry := map[string]any{"protocol": "nacos", "address": closedAddr, "timeout": "500ms", "password": hygienePassword}
	return gatewayconfig.YAML(&model.Bootstrap{
		StaticResources: model.StaticResources{
			Listeners: []*model.Listener{gatewayconfig.Listener("llm", 0, routes,
				gatewayconfig.Proxy(map[string]any{"timeout": "2s", "scheme": "http"}))},
			Clusters: []*model.ClusterConfig{
				gatewayconfig.Cluster("keyed", "", gatewayconfig.Endpoint("keyed", keyedAddr, &model.LLMMeta{APIKey: hygieneKey})),
				gatewayconfig.Cluster("unauthorized", "", gatewayconfig.Endpoint("wrong-keys", wrongAddr,
					&model.LLMMeta{APIKeys: []string{hygieneKey2, hygieneKey3}, RetryPolicy: gatewayconfig.CountBased(1)})),
				gatewayconfig.Cluster("failing", "",
					gatewayconfig.Endpoint("flaky", flakyAddr, &model.LLMMeta{APIKey: hygieneKey, Fallback: true,
						HealthCheckInterval: 100, RetryPolicy: gatewayconfig.CountBased(2)}),
					gatewayconfig.Endpoint("unreachable", closedAddr, &model.LLMMeta{APIKey: hygieneKey3, RetryPolicy: gatewayconfig.CountBased(1)})),
				gatewayconfig.Cluster("gone", "", gone),
			},
			Adapters: []*model.Adapter{gatewayconfig.Adapter("llm-registry", "dgp.adapter.llmregistrycenter",
				map[string]any{"registries": map[string]any{"nacos": registry}})},
			ShutdownConfig: gatewayconfig.Shutdown(5*time.Second, 3*time.Second),
		},
		Metric: model.Metric{Enable: true},
		Admin:  model.Admin{Enable: true, Address: "127.0.0.1:0"},
	})
}

func TestSecretsAppearNowhere(t *testing.T) {
	t.Setenv("NACOS_ADDRESS", "") // the registry must stay the unreachable one below

	keyed := llmstub.Start(t, llmstub.WithName("keyed"), llmstub.WithAPIKey(hygieneKey))
	wrong := llmstub.Start(t, llmstub.WithName("wrong"), llmstub.WithAPIKey(upstreamKey))
	flaky := llmstub.Start(t, llmstub.WithName("flaky"), llmstub.WithDefault(llmstub.Status(500)))

	g := gatewaytest.Start(t, hygieneConfig(keyed.Addr(), wrong.Addr(), flaky.Addr(), closedAddr(t)))
	logs := g.Logs
	base := g.URL("llm")
	client := &http.Client{Timeout: 20 * time.Second}

	var clientSaw strings.Builder
	send := func(cluster, body string) int {
		req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Cluster", cluster)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		fmt.Fprintf(&clientSaw, "%d %v %s\n", resp.StatusCode, resp.Header, b)
		return resp.StatusCode
	}

	// The keys do reach the upstreams that need them...
	assert.Equal(t, http.StatusOK, send("keyed", chatBody))
	assert.Equal(t, http.StatusOK, send("keyed", streamChatBody))
	last, ok := keyed.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer "+hygieneKey, last.Header.Get("Authorization"))
	// ...and every kind of failure happens.
	assert.Equal(t, http.StatusUnauthorized, send("unauthorized", chatBody))
	// 500s, retries, fallback to an unreachable endpoint: the client gets the last upstream answer.
	assert.Equal(t, http.StatusInternalServerError, send("failing", chatBody))
	assert.Equal(t, http.StatusBadGateway, send("gone", chatBody))
	assert.Equal(t, http.StatusBadRequest, send("keyed", `{"model": not json`))
	assert.Equal(t, 3, flaky.Count())

	var admin strings.Builder
	adminBase := "http://" + g.AdminAddr().String()
	for _, path := range []string{"/admin/clusters", "/admin/clusters/gone", "/admin/registries", "/readyz", "/healthz", "/admin/" + hygieneKey} {
		resp, err := client.Get(adminBase + path)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		fmt.Fprintf(&admin, "%d %s\n", resp.StatusCode, b) // not the path: one of them holds a key on purpose
	}
	require.Contains(t, admin.String(), `"keys": 2`, "keys are reported as a count")
	require.Contains(t, admin.String(), `"id": "llm-registry"`)

	resp, err := client.Get("http://" + g.MetricsAddr().String() + "/metrics")
	require.NoError(t, err)
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(scrape), `pixiu_llm_upstream_attempts_total{cluster="failing",endpoint="unreachable",outcome="error"} 2`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))

	require.Contains(t, logs.String(), "level=DEBUG", "logs were captured at debug level")
	for where, out := range map[string]string{
		"logs": logs.String(), "admin API": admin.String(), "/metrics": string(scrape), "client responses": clientSaw.String(),
	} {
		for _, secret := range hygieneSecrets {
			assert.NotContains(t, out, secret, "%s leak a secret", where)
		}
	}
}

const streamChatBody = `{"model":"stub-model","stream":true,"messages":[{"role":"user","content":"say hi"}]}`

const chatBody = `{"model":"stub-model","messages":[{"role":"user","content":"say hi"}]}`

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
