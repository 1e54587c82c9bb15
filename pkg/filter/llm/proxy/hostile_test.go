package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Bodies are read as they arrive: connections that declare a large body and send one byte cost
// what they sent, not what they declared.
func TestDeclaredBodiesCostOnlyWhatArrived(t *testing.T) {
	const conns, declared = 100, 10_000_000
	stub := llmstub.Start(t)
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", stub.Addr(), nil))})
	addr := strings.TrimPrefix(g.URL, "http://")

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	open := make([]net.Conn, 0, conns)
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		open = append(open, c)
		_, err = fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\n\r\n{", declared)
		require.NoError(t, err)
	}
	eventually(t, 10*time.Second, func() bool { return g.InFlight() == conns }, "every connection is being served")
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %.2f MiB for %d connections each declaring %d bytes and sending 1",
		float64(growth)/(1<<20), conns, declared)
	assert.Less(t, growth, int64(20<<20))
	assert.Zero(t, stub.Count(), "nothing is forwarded before the body is complete")
}

// A provider's response headers are bounded: an endless header fails the attempt instead of
// growing the gateway's memory.
func TestOversizedResponseHeadersFailTheAttempt(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Padding", strings.Repeat("p", 512<<10))
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(upstream.Close)
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("big", upstream.Listener.Addr().String(), nil))})
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, http.StatusBadGateway, r.status, r.body)
	assert.Contains(t, r.body, "big:")
}

var countBased100 = &model.LLMMeta{Fallback: true, RetryPolicy: gatewayconfig.CountBased(100)}

// maxAttempts bounds a request's attempts, retries and fallbacks together: four endpoints that
// each allow 101 attempts cost at most 10, and every endpoint still gets one.
func TestRetryBudgetBoundsAttemptsAcrossFallbacks(t *testing.T) {
	var stubs []*llmstub.Stub
	var endpoints []*model.Endpoint
	for _, id := range []string{"a", "b", "c", "d"} {
		s := llmstub.Start(t, llmstub.WithName(id), llmstub.WithDefault(llmstub.Status(503)))
		stubs = append(stubs, s)
		endpoints = append(endpoints, gatewayconfig.DomainEndpoint(id, s.Addr(), countBased100))
	}
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", endpoints...)})

	start := time.Now()
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	took := time.Since(start)

	assert.Equal(t, http.StatusServiceUnavailable, r.status, "the last upstream answer")
	assert.Equal(t, "10", r.header.Get("X-Pixiu-Attempts"))
	total := 0
	for _, s := range stubs {
		assert.Positive(t, s.Count(), "%s was tried", s.Name())
		total += s.Count()
	}
	assert.Equal(t, 10, total)
	assert.Less(t, took, time.Second)
	assert.Equal(t, 10.0, g.scrape(t).Sum("pixiu_llm_upstream_attempts_total", map[string]string{"cluster": "chat"}))
}

// Without any upstream answer, the error body says how many attempts were made, names the
// endpoints and the kind of failure, and never an address.
func TestUnreachableEndpointsErrorNamesKindsNotAddresses(t *testing.T) {
	var endpoints []*model.Endpoint
	for _, id := range []string{"a", "b", "c", "d"} {
		endpoints = append(endpoints, gatewayconfig.DomainEndpoint(id, closedAddr(t), countBased100))
	}
	g := startGateway(t, gatewaySpec{filter: map[string]any{"timeout": "5s", "scheme": "http", "maxAttempts": 6},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", endpoints...)})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, http.StatusBadGateway, r.status)
	assert.Equal(t, "6", r.header.Get("X-Pixiu-Attempts"))
	assert.Contains(t, r.body, "no endpoint answered after 6 attempts (maxAttempts 6 reached)")
	for _, id := range []string{"a", "b", "c", "d"} {
		assert.Contains(t, r.body, id+": connection refused (")
	}
	for _, leak := range []string{"127.0.0.1", "dial", "tcp"} {
		assert.NotContains(t, r.body, leak)
	}
}

// Operators see a fallback, a cooldown and an unanswered request at WARN, once per endpoint and
// reason per interval however many requests fail.
func TestFailuresAreWarnedOncePerInterval(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(503)))
	b := llmstub.Start(t, llmstub.WithName("b"), llmstub.WithDefault(llmstub.Status(502)))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("a", a.Addr(), &model.LLMMeta{Fallback: true, HealthCheckInterval: 60000}),
		gatewayconfig.DomainEndpoint("b", b.Addr(), &model.LLMMeta{Fallback: true, HealthCheckInterval: 60000}))})

	hc := client(t)
	for range 5 {
		status := post(t, hc, g.URL+"/v1/chat/completions", chatBody).status
		assert.Contains(t, []int{http.StatusBadGateway, http.StatusServiceUnavailable}, status)
	}
	logs := g.logs.String()
	warnings := func(parts ...string) int {
		n := 0
	lines:
		for _, line := range strings.Split(logs, "\n") {
			for _, p := range append(parts, "level=WARN") {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			n++
		}
		return n
	}
	fallback := `msg="endpoint failed; falling back to the next one"`
	assert.Equal(t, 1, warnings(fallback, "endpoint=a", `failure="status 503"`, "next=b"), logs)
	assert.Equal(t, 1, warnings(fallback, "endpoint=b", `failure="status 502"`, "next=a"), logs)
	assert.Equal(t, 2, warnings(`msg="endpoint cooling down after failing"`), logs)
	assert.Equal(t, 2, warnings(`msg="no endpoint answered the request"`, "attempts=2"), logs)
}

// A success ends an endpoint's cooldown at once instead of letting it run out.
func TestSuccessEndsACooldown(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.Status(503))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("only", stub.Addr(), &model.LLMMeta{HealthCheckInterval: 3600000}))})
	health := g.Clusters.Cluster("chat").Member("only").Health

	hc := client(t)
	require.Equal(t, http.StatusServiceUnavailable, post(t, hc, g.URL+"/v1/chat/completions", chatBody).status)
	require.True(t, health.CoolingDown(time.Now()), "the failure started a cooldown")
	require.Equal(t, http.StatusOK, post(t, hc, g.URL+"/v1/chat/completions", chatBody).status,
		"a cluster whose every endpoint cools down is tried anyway")
	assert.False(t, health.CoolingDown(time.Now()), "the success ended the cooldown")
}

// A provider that goes silent in the middle of a stream is cut after streamIdleTimeout: the
// client gets an OpenAI-shaped error event, then the connection closes.
func TestSilentStreamIsCutWithAnErrorEvent(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithDefault(llmstub.StallAfter(2, llmstub.Forever)))
	g := startGateway(t, gatewaySpec{filter: map[string]any{"timeout": "5s", "scheme": "http", "streamIdleTimeout": "2s"},
		listener: model.HTTPListenerConfig{AccessLog: model.AccessLog{Enabled: true, Format: "text"}},
		cluster:  gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("quiet", stub.Addr(), nil))})

	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(streamBody(false)))
	require.NoError(t, err)
	resp, err := client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, readErr := io.ReadAll(resp.Body)
	took := time.Since(start)

	assert.Error(t, readErr, "the connection is closed, not the stream finished")
	assert.Less(t, took, 3*time.Second)
	assert.GreaterOrEqual(t, took, 2*time.Second)
	events := strings.Split(strings.TrimSpace(string(body)), "\n\n")
	require.GreaterOrEqual(t, len(events), 3, string(body))
	assert.Contains(t, events[len(events)-1], `data: {"error":{"message":"the upstream sent nothing for 2s; the stream was ended","type":"server_error","code":"stream_idle_timeout"}}`)
	assert.NotContains(t, string(body), "[DONE]")
	eventually(t, 5*time.Second, func() bool {
		return g.scrape(t).Sum("pixiu_llm_streams_cut_total", map[string]string{"cluster": "chat", "endpoint": "quiet", "reason": "stream_idle"}) == 1
	}, "the cut is counted")
	eventually(t, 5*time.Second, func() bool { return strings.Contains(g.logs.String(), "cut=stream_idle") },
		"the access log says the stream was cut")
}

// The access log line of a request that fell back names both endpoints, the one that answered
// and the attempt count.
func TestAccessLogOfAFallbackNamesBothEndpoints(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(503)))
	b := llmstub.Start(t, llmstub.WithName("b"))
	g := startGateway(t, gatewaySpec{listener: model.HTTPListenerConfig{AccessLog: model.AccessLog{Enabled: true, Format: "text"}},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("a", a.Addr(), countBased2), gatewayconfig.DomainEndpoint("b", b.Addr(), countBased2))})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "4", r.header.Get("X-Pixiu-Attempts"))

	var access []string
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, "msg=access") {
			access = append(access, line)
		}
	}
	require.Len(t, access, 1, g.logs.String())
	for _, want := range []string{"route=/", "cluster=chat", "endpoint=b", "tried=a,b", "attempts=4", "status=200",
		"method=POST", "path=/v1/chat/completions", "tokens.total=", "ttfb_ms=", "duration_ms="} {
		assert.Contains(t, access[0], want)
	}
}

// One id follows a request: the client gets it back, the provider receives it, the access log
// names it; a client's own X-Request-Id is that id.
func TestRequestIDIsSharedByClientProviderAndAccessLog(t *testing.T) {
	stub := llmstub.Start(t)
	g := startGateway(t, gatewaySpec{listener: model.HTTPListenerConfig{AccessLog: model.AccessLog{Enabled: true, Format: "text"}},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("a", stub.Addr(), nil))})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	id := r.header.Get("X-Pixiu-Request-Id")
	require.Len(t, id, 36)
	got, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, id, got.Header.Get("X-Request-Id"))
	assert.Contains(t, g.logs.String(), "request_id="+id)

	req, err := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", "client-trace-7")
	resp, err := client(t).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "client-trace-7", resp.Header.Get("X-Pixiu-Request-Id"))
	got, _ = stub.Last()
	assert.Equal(t, "client-trace-7", got.Header.Get("X-Request-Id"))
	assert.Contains(t, g.logs.String(), "request_id=client-trace-7")
}
