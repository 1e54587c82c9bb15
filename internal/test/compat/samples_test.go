package compat

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/internal/upstreamsamples"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// Upstream's best-practice sample loads unchanged (lb_policy "lb", id: 1, times under
// retry_policy, the tokenizer after the proxy, no newline at the end), builds, and serves: with
// its listener moved to loopback and its endpoint's domain pointed at a stub, a request reaches
// the stub and its tokens are counted and logged.
func TestUpstreamBestPractiseSampleLoadsBuildsAndReachesAStub(t *testing.T) {
	doc, err := config.LoadFile(upstreamsamples.Path(t, upstreamsamples.BestPractise))
	require.NoError(t, err)
	warnings := warningsOf(doc)
	assert.NotContains(t, warnings, "unknown key")
	assert.Contains(t, warnings, `static_resources.clusters[0].lb_policy: unknown lb_policy "lb"`)
	assert.Contains(t, warnings, "retry_policy.times: read as retry_policy.config.times")

	c := doc.Bootstrap.StaticResources.Clusters[0]
	require.Equal(t, "1", c.Endpoints[0].ID, "the integer id")
	assert.Equal(t, map[string]any{"times": 3}, c.Endpoints[0].LLMMeta.RetryPolicy.Config)

	stub := llmstub.Start(t, llmstub.WithModel("deepseek-chat"))
	onLoopback(doc)
	// The sample's filter speaks https; a domain with its own scheme keeps it. The sample routes
	// /chat/completions, as DeepSeek serves it; the stub serves it under /v1.
	c.Endpoints[0].Address.Domains = []string{stub.URL() + "/v1"}
	g := gatewaytest.StartDoc(t, doc)

	res, err := chat(t, openAIClient(t, g.URL("llm_proxy")))
	require.NoError(t, err)
	rec, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "/v1/chat/completions", rec.Path)
	require.Positive(t, res.Usage.TotalTokens)

	s := scrape(t, g)
	assert.Equal(t, float64(res.Usage.TotalTokens), s.Value(t, "pixiu_llm_total_tokens_total",
		metricstest.Labels{"cluster_name": "chat", "endpoint_id": "1", "model": "deepseek-chat"}))
	assert.Contains(t, g.Logs.String(), `msg="llm usage" filter=dgp.filter.llm.tokenizer cluster=chat endpoint=1 model=deepseek-chat status=200`)
}

// Upstream's Nacos sample loads unchanged and builds; TestUpstreamNacosSample... runs it
// against a registry.
func TestUpstreamNacosSampleLoadsAndBuilds(t *testing.T) {
	doc, err := config.LoadFile(upstreamsamples.Path(t, upstreamsamples.Nacos))
	require.NoError(t, err)
	assert.NotContains(t, warningsOf(doc), "unknown key")
	assert.Equal(t, "0.0.0.0", doc.Bootstrap.StaticResources.Listeners[0].Address.SocketAddress.Address)
	var logs logcapture.Buffer
	g, err := server.New(doc, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, g.Shutdown(context.Background()))
	assert.NotContains(t, logs.String(), "unknown key")
}

// Upstream's kvcache sample needs dgp.filter.ai.kvcache, which this gateway does not implement:
// it does not start, and says which filter and why.
func TestUpstreamKVCacheSampleIsRefusedNamingTheFilter(t *testing.T) {
	path := upstreamsamples.Path(t, upstreamsamples.KVCacheMock)
	doc, err := config.LoadFile(path)
	require.NoError(t, err, "the file itself loads")
	assert.Equal(t, "RoundRobin", doc.Bootstrap.StaticResources.Clusters[0].LbStr, `lb_policy "round_robin"`)
	_, err = server.New(doc, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	for _, want := range []string{path + ":", "http_filters[0].name", `"dgp.filter.ai.kvcache" is upstream Pixiu's`, "does not implement it"} {
		assert.Contains(t, err.Error(), want)
	}
}

// ownUpstreamStyle is our own config in the style of upstream's samples: quoted values, an
// integer id, lb_policy "lb", times directly under retry_policy, the tokenizer after the proxy,
// a 0.0.0.0 listener, and no newline at the end. %s is the stub's URL.
const ownUpstreamStyle = `static_resources:
  listeners:
    - name: "llm_proxy"
      protocol_type: "HTTP"
      address:
        socket_address:
          address: "0.0.0.0"
          port: 8888
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match:
                      prefix: "/v1"
                    route:
                      cluster: "chat"
              http_filters:
                - name: dgp.filter.llm.proxy
                  config:
                    timeout: 5s
                - name: dgp.filter.llm.tokenizer
                  config:
                    log_to_console: true
  clusters:
    - name: "chat"
      lb_policy: "lb"
      endpoints:
        - id: 7
          socket_address:
            domains:
              - "%s"
          llm_meta:
            retry_policy:
              name: "CountBased"
              times: 1
metric:
  enable: true`

// times: 1 written under retry_policy means two attempts, not the default four.
func TestOwnUpstreamStyleConfigHonoursTimesUnderRetryPolicyAndTheIntegerID(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithDefault(llmstub.Status(503)))
	text := fmt.Sprintf(ownUpstreamStyle, stub.URL())
	require.False(t, strings.HasSuffix(text, "\n"))
	doc, err := config.Load("own.yaml", []byte(text))
	require.NoError(t, err)
	onLoopback(doc)
	g := gatewaytest.StartDoc(t, doc)

	_, err = chat(t, openAIClient(t, g.URL("llm_proxy")+"/v1/"))
	require.Error(t, err, "every attempt got 503")
	assert.Equal(t, 2, stub.Count(), "CountBased times: 1 is one retry")
	s := scrape(t, g)
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_upstream_attempts_total", metricstest.Labels{"cluster": "chat", "endpoint": "7", "outcome": "5xx"}))
}

// A 0.0.0.0 listener, as upstream's samples have, loads and builds as written (tests start
// gateways on loopback only, so this one is built but not started).
func TestZeroAddressListenerBuilds(t *testing.T) {
	doc, err := config.Load("own.yaml", []byte(fmt.Sprintf(ownUpstreamStyle, "http://127.0.0.1:1")))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0", doc.Bootstrap.StaticResources.Listeners[0].Address.SocketAddress.Address)
	g, err := server.New(doc, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))
}
