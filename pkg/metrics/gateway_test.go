package metrics_test

// End-to-end: a whole gateway (config.Load + server.New + Start, port 0 everywhere) in front of
// llmstub upstreams, scripted traffic, then a scrape of /metrics asserting that every counter and
// histogram moved by exactly the expected amount.

import (
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
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

type gateway struct {
	*server.Gateway
	url        string
	metricsURL string
}

// startGateway runs a gateway with metrics on whose /v1 route goes to the round-robin cluster
// chat of endpoints.
func startGateway(t *testing.T, endpoints ...*model.Endpoint) *gateway {
	t.Helper()
	g := gatewaytest.Start(t, gatewayconfig.OneRoute{
		Filters:  []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"})},
		Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("chat", model.LoadBalancerRoundRobin, endpoints...)},
		Shutdown: gatewayconfig.Shutdown(5*time.Second, 2*time.Second),
		Metrics:  true,
	}.YAML())
	return &gateway{
		Gateway:    g.Gateway,
		url:        g.URL("llm"),
		metricsURL: "http://" + g.MetricsAddr().String() + "/metrics",
	}
}

const chatBody = `{"model":"stub-model","messages":[{"role":"user","content":"say hi"}]}`

const streamBody = `{"model":"stub-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`

// chat posts body to the gateway and returns the status and the whole response body.
func (g *gateway) chat(t *testing.T, body string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Post(g.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func (g *gateway) scrape(t *testing.T) *metricstest.Scrape {
	t.Helper()
	return metricstest.Get(t, g.metricsURL)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

const (
	requests  = "pixiu_llm_requests_total"
	attempts  = "pixiu_llm_upstream_attempts_total"
	retries   = "pixiu_llm_retries_total"
	fallbacks = "pixiu_llm_fallbacks_total"
	cooldowns = "pixiu_llm_cooldowns_total"
	duration  = "pixiu_llm_upstream_duration_seconds"
	firstByte = "pixiu_llm_time_to_first_byte_seconds"
	tokens    = "pixiu_llm_tokens_total"
	endpoints = "pixiu_cluster_endpoints"
)

func ep(id string, more ...string) L {
	l := L{"cluster": "chat", "endpoint": id}
	for i := 0; i+1 < len(more); i += 2 {
		l[more[i]] = more[i+1]
	}
	return l
}

func TestScrapeAfterSuccess(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	g := startGateway(t, gatewayconfig.Endpoint("a", a.Addr(), nil))

	for range 3 {
		status, body := g.chat(t, chatBody)
		require.Equal(t, http.StatusOK, status, body)
	}
	s := g.scrape(t)
	assert.Equal(t, 3.0, s.Value(t, requests, ep("a", "code", "2xx")))
	assert.Equal(t, 3.0, s.Sum(requests, nil), "no other request series")
	assert.Equal(t, 3.0, s.Value(t, attempts, ep("a", "outcome", "2xx")))
	assert.Equal(t, 3.0, s.Sum(attempts, nil))
	assert.Equal(t, uint64(3), s.HistogramCount(t, duration, ep("a")))
	assert.Equal(t, uint64(3), s.HistogramCount(t, firstByte, ep("a")))
	assert.Zero(t, s.Sum(retries, nil))
	assert.Zero(t, s.Sum(fallbacks, nil))
	assert.Zero(t, s.Sum(cooldowns, nil))
	// "say hi" is 2 prompt tokens; "Hello from a" 3 completion tokens (llmstub counts words).
	tok := L{"cluster": "chat", "model": "stub-model"}
	assert.Equal(t, 6.0, s.Value(t, tokens, with(tok, "kind", "prompt")))
	assert.Equal(t, 9.0, s.Value(t, tokens, with(tok, "kind", "completion")))
	assert.Equal(t, 15.0, s.Value(t, tokens, with(tok, "kind", "total")))
	assert.Equal(t, 1.0, s.Value(t, endpoints, L{"cluster": "chat", "source": "static"}))
}

func TestScrapeAfterRetries(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	a.Script(llmstub.Status(500), llmstub.Status(503))
	g := startGateway(t, gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{RetryPolicy: gatewayconfig.CountBased(2)}))

	status, body := g.chat(t, chatBody)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 3, a.Count())

	s := g.scrape(t)
	assert.Equal(t, 2.0, s.Value(t, attempts, ep("a", "outcome", "5xx")))
	assert.Equal(t, 1.0, s.Value(t, attempts, ep("a", "outcome", "2xx")))
	assert.Equal(t, 2.0, s.Value(t, retries, ep("a")))
	assert.Equal(t, uint64(3), s.HistogramCount(t, duration, ep("a")), "every attempt is timed")
	assert.Equal(t, uint64(1), s.HistogramCount(t, firstByte, ep("a")), "first byte of the successful answer only")
	assert.Equal(t, 1.0, s.Value(t, requests, ep("a", "code", "2xx")))
	assert.Equal(t, 1.0, s.Sum(requests, nil), "one client request")
	assert.Zero(t, s.Sum(fallbacks, nil))
	assert.Zero(t, s.Sum(cooldowns, nil))

	// A 400 is the client's fault: answered as it is, no retry.
	a.Script(llmstub.Status(400))
	status, _ = g.chat(t, chatBody)
	require.Equal(t, http.StatusBadRequest, status)
	s = g.scrape(t)
	assert.Equal(t, 1.0, s.Value(t, attempts, ep("a", "outcome", "4xx")))
	assert.Equal(t, 1.0, s.Value(t, requests, ep("a", "code", "4xx")))
	assert.Equal(t, 2.0, s.Value(t, retries, ep("a")), "unchanged")
}

func TestScrapeAfterFallbackAndCooldown(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(502)))
	b := llmstub.Start(t, llmstub.WithName("b"))
	g := startGateway(t,
		gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{Fallback: true, HealthCheckInterval: 60000, RetryPolicy: gatewayconfig.CountBased(1)}),
		gatewayconfig.Endpoint("b", b.Addr(), nil))

	// Round robin starts with a: two attempts there, then b.
	status, body := g.chat(t, chatBody)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Hello from b")
	s := g.scrape(t)
	assert.Equal(t, 2.0, s.Value(t, attempts, ep("a", "outcome", "5xx")))
	assert.Equal(t, 1.0, s.Value(t, retries, ep("a")))
	assert.Equal(t, 1.0, s.Value(t, fallbacks, ep("a")))
	assert.Equal(t, 1.0, s.Value(t, cooldowns, ep("a")))
	assert.Equal(t, 1.0, s.Value(t, attempts, ep("b", "outcome", "2xx")))
	assert.Equal(t, 1.0, s.Value(t, requests, ep("b", "code", "2xx")))
	assert.Equal(t, 1.0, s.Sum(requests, nil), "the request is counted once, on the endpoint that answered")
	assert.Zero(t, s.Sum(fallbacks, L{"endpoint": "b"}))

	// a cools down for a minute: the next requests go straight to b.
	for range 2 {
		status, _ = g.chat(t, chatBody)
		require.Equal(t, http.StatusOK, status)
	}
	s = g.scrape(t)
	assert.Equal(t, 2.0, s.Value(t, attempts, ep("a", "outcome", "5xx")), "a was not tried again")
	assert.Equal(t, 3.0, s.Value(t, requests, ep("b", "code", "2xx")))
	assert.Equal(t, 1.0, s.Value(t, fallbacks, ep("a")))
	assert.Equal(t, 2, a.Count())
}

func TestScrapeAfterUnreachableUpstream(t *testing.T) {
	g := startGateway(t, gatewayconfig.Endpoint("gone", closedAddr(t), &model.LLMMeta{RetryPolicy: gatewayconfig.CountBased(1)}))
	status, body := g.chat(t, chatBody)
	require.Equal(t, http.StatusBadGateway, status, body)
	s := g.scrape(t)
	assert.Equal(t, 2.0, s.Value(t, attempts, ep("gone", "outcome", "error")))
	assert.Equal(t, 1.0, s.Value(t, retries, ep("gone")))
	assert.Equal(t, 1.0, s.Value(t, requests, ep("gone", "code", "5xx")))
	assert.Zero(t, s.HistogramCount(t, firstByte, ep("gone")))
	assert.Equal(t, uint64(2), s.HistogramCount(t, duration, ep("gone")))
}

func TestScrapeAfterStream(t *testing.T) {
	const chunks, interval = 5, 50 * time.Millisecond
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithStream(chunks, interval))
	g := startGateway(t, gatewayconfig.Endpoint("a", a.Addr(), nil))

	status, body := g.chat(t, streamBody)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "data: [DONE]")

	s := g.scrape(t)
	assert.Equal(t, 1.0, s.Value(t, requests, ep("a", "code", "2xx")))
	assert.Equal(t, 1.0, s.Value(t, attempts, ep("a", "outcome", "2xx")))
	require.Equal(t, uint64(1), s.HistogramCount(t, firstByte, ep("a")))
	require.Equal(t, uint64(1), s.HistogramCount(t, duration, ep("a")))
	ttfb, total := s.HistogramSum(t, firstByte, ep("a")), s.HistogramSum(t, duration, ep("a"))
	streamed := float64(chunks-1) * interval.Seconds()
	assert.GreaterOrEqual(t, total, streamed, "the attempt lasts until the end of the stream")
	assert.Less(t, ttfb, total-streamed/2, "time to first byte is taken at the first chunk, not at the end")
	// Usage from the stream's last chunk: 2 prompt tokens, one token per chunk.
	tok := L{"cluster": "chat", "model": "stub-model"}
	assert.Equal(t, 2.0, s.Value(t, tokens, with(tok, "kind", "prompt")))
	assert.Equal(t, float64(chunks), s.Value(t, tokens, with(tok, "kind", "completion")))
	assert.Equal(t, float64(chunks+2), s.Value(t, tokens, with(tok, "kind", "total")))
}

// TestLabelSetsAreBounded checks, after varied traffic, that no gateway series carries a label
// outside the documented, bounded set (no request ids, no keys, no paths).
func TestLabelSetsAreBounded(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	a.Script(llmstub.Status(500), llmstub.Status(429), llmstub.Status(401))
	g := startGateway(t, gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{RetryPolicy: gatewayconfig.CountBased(1)}))
	for range 3 {
		g.chat(t, chatBody)
	}
	g.chat(t, streamBody)

	allowed := map[string]bool{"cluster": true, "endpoint": true, "code": true, "outcome": true, "model": true,
		"kind": true, "source": true, "registry": true, "type": true, "le": true}
	classes := map[string]bool{"1xx": true, "2xx": true, "3xx": true, "4xx": true, "5xx": true, "other": true,
		"error": true, "timeout": true, "canceled": true}
	s := g.scrape(t)
	n := 0
	for name, f := range s.Families {
		if !strings.HasPrefix(name, "pixiu_") {
			continue
		}
		for _, m := range f.Metric {
			n++
			for _, lp := range m.Label {
				assert.True(t, allowed[lp.GetName()], "%s has label %s", name, lp.GetName())
				if lp.GetName() == "code" || lp.GetName() == "outcome" {
					assert.True(t, classes[lp.GetValue()], "%s{%s=%q}", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	assert.Greater(t, n, 5, "the traffic produced series")
}

func with(l L, k, v string) L {
	out := L{k: v}
	for lk, lv := range l {
		out[lk] = lv
	}
	return out
}
