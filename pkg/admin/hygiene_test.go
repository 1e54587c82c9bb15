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

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
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

const hygieneYAML = `static_resources:
  listeners:
    - name: llm
      address: {socket_address: {address: 127.0.0.1, port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
%[1]s
              http_filters:
                - name: dgp.filter.llm.proxy
                  config: {timeout: 2s, scheme: http}
  clusters:
    - name: keyed
      endpoints:
        - id: keyed
          socket_address: {address: 127.0.0.1, port: %[2]d}
          llm_meta: {api_key: "%[6]s"}
    - name: unauthorized
      endpoints:
        - id: wrong-keys
          socket_address: {address: 127.0.0.1, port: %[3]d}
          llm_meta:
            api_keys: ["%[7]s", "%[8]s"]
            retry_policy: {name: CountBased, config: {times: 1}}
    - name: failing
      endpoints:
        - id: flaky
          socket_address: {address: 127.0.0.1, port: %[4]d}
          llm_meta:
            api_key: "%[6]s"
            fallback: true
            health_check_interval: 100
            retry_policy: {name: CountBased, config: {times: 2}}
        - id: unreachable
          socket_address: {address: 127.0.0.1, port: %[5]d}
          llm_meta: {api_key: "%[8]s", retry_policy: {name: CountBased, config: {times: 1}}}
    - name: gone
      endpoints:
        - id: gone
          name: "gone (keys %[7]s)"
          socket_address: {address: 127.0.0.1, port: %[5]d}
          llm_meta: {api_key: "%[7]s"}
  adapters:
    - id: llm-registry
      name: dgp.adapter.llmregistrycenter
      config:
        registries:
          nacos:
            protocol: nacos
            address: "127.0.0.1:%[5]d"
            timeout: 500ms
            password: "%[9]s"
  shutdown_config: {timeout: 5s, step_timeout: 3s}
metric: {enable: true}
admin: {enable: true, address: "127.0.0.1:0"}
`

func hygieneRoutes(clusters ...string) string {
	var b strings.Builder
	for _, c := range clusters {
		fmt.Fprintf(&b, "                  - match: {prefix: /v1, headers: [{name: X-Cluster, values: [%s]}]}\n", c)
		fmt.Fprintf(&b, "                    route: {cluster: %s}\n", c)
	}
	return strings.TrimRight(b.String(), "\n")
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	require.NoError(t, err)
	return tcp.Port
}

func TestSecretsAppearNowhere(t *testing.T) {
	t.Setenv("NACOS_ADDRESS", "") // the registry must stay the unreachable one below

	keyed := llmstub.Start(t, llmstub.WithName("keyed"), llmstub.WithAPIKey(hygieneKey))
	wrong := llmstub.Start(t, llmstub.WithName("wrong"), llmstub.WithAPIKey(upstreamKey))
	flaky := llmstub.Start(t, llmstub.WithName("flaky"), llmstub.WithDefault(llmstub.Status(500)))
	closed := closedPort(t)

	yaml := fmt.Sprintf(hygieneYAML, hygieneRoutes("keyed", "unauthorized", "failing", "gone"),
		portOf(t, keyed.Addr()), portOf(t, wrong.Addr()), portOf(t, flaky.Addr()), closed,
		hygieneKey, hygieneKey2, hygieneKey3, hygienePassword)
	g := gatewaytest.Start(t, yaml)
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

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
