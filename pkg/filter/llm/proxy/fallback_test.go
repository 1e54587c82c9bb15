package proxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

var countBased2 = &model.LLMMeta{Fallback: true, RetryPolicy: gatewayconfig.CountBased(2)}

// content is the assistant message of a unary completion, which names the stub that answered.
func content(t *testing.T, body string) string {
	t.Helper()
	var doc struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc), body)
	require.NotEmpty(t, doc.Choices, body)
	return doc.Choices[0].Message.Content
}

func TestPrimaryFailsThreeTimesThenSecondaryAnswers(t *testing.T) {
	primary := llmstub.Start(t, llmstub.WithName("primary"), llmstub.WithDefault(llmstub.Status(503)))
	secondary := llmstub.Start(t, llmstub.WithName("secondary"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("primary", primary.Addr(), countBased2),
		gatewayconfig.DomainEndpoint("secondary", secondary.Addr(), countBased2))})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "Hello from secondary", content(t, r.body))
	assert.Equal(t, 3, primary.Count(), "CountBased times 2 = 3 attempts on the primary")
	assert.Equal(t, 1, secondary.Count())

	labels := map[string]string{"cluster": "chat", "endpoint": "primary"}
	assert.Equal(t, 2.0, g.scrape(t).Sum("pixiu_llm_retries_total", labels))
	assert.Equal(t, 1.0, g.scrape(t).Sum("pixiu_llm_fallbacks_total", labels))
	assert.Equal(t, 3.0, g.scrape(t).Sum("pixiu_llm_upstream_attempts_total", map[string]string{"endpoint": "primary", "outcome": "5xx"}))
	assert.Equal(t, 1.0, g.scrape(t).Sum("pixiu_llm_requests_total", map[string]string{"endpoint": "secondary", "code": "2xx"}))
}

// A 400 is the client's fault: returned as it is, no retry, no fallback.
func TestClientErrorIsReturnedAsIs(t *testing.T) {
	const body = `{"error":{"message":"bad messages","type":"invalid_request_error","code":"bad"}}`
	for _, status := range []int{400, 401, 404, 413, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			primary := llmstub.Start(t, llmstub.WithName("primary"),
				llmstub.WithDefault(llmstub.Status(status).WithBody(body).WithHeader("X-Upstream", "primary")))
			secondary := llmstub.Start(t, llmstub.WithName("secondary"))
			g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
				gatewayconfig.DomainEndpoint("primary", primary.Addr(), countBased2),
				gatewayconfig.DomainEndpoint("secondary", secondary.Addr(), countBased2))})

			r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
			assert.Equal(t, status, r.status)
			assert.Equal(t, body, r.body)
			assert.Equal(t, "primary", r.header.Get("X-Upstream"))
			assert.Equal(t, 1, primary.Count())
			assert.Zero(t, secondary.Count())
		})
	}
}

// Transport errors and timeouts before the headers are retried.
func TestTransportErrorsAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure llmstub.Action
	}{
		{"connection closed before headers", llmstub.CloseConn()},
		{"connection reset", llmstub.Reset()},
		{"no headers within timeout", llmstub.Delay(llmstub.Forever)},
		{"500", llmstub.Status(500)},
		{"502", llmstub.Status(502)},
		{"503", llmstub.Status(503)},
		{"504", llmstub.Status(504)},
		{"429", llmstub.Status(429)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := llmstub.Start(t, llmstub.WithName("only"))
			stub.Script(tc.failure, tc.failure)
			g := startGateway(t, gatewaySpec{
				filter:  map[string]any{"timeout": "300ms", "scheme": "http"},
				cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("only", stub.Addr(), countBased2)),
			})
			r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Equal(t, "Hello from only", content(t, r.body))
			assert.Equal(t, 3, stub.Count())
		})
	}
}

func TestRefusedEndpointIsRetriedThenFallsBack(t *testing.T) {
	live := llmstub.Start(t, llmstub.WithName("live"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("dead", closedAddr(t), countBased2),
		gatewayconfig.DomainEndpoint("live", live.Addr(), countBased2))})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "Hello from live", content(t, r.body))
	assert.Equal(t, 3.0, g.scrape(t).Sum("pixiu_llm_upstream_attempts_total", map[string]string{"endpoint": "dead", "outcome": "error"}))
}

func TestFallbackFalseReturnsTheFailure(t *testing.T) {
	primary := llmstub.Start(t, llmstub.WithName("primary"), llmstub.WithDefault(llmstub.Status(503).WithHeader("X-Upstream", "primary")))
	secondary := llmstub.Start(t, llmstub.WithName("secondary"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("primary", primary.Addr(), &model.LLMMeta{Fallback: false, RetryPolicy: gatewayconfig.CountBased(1)}),
		gatewayconfig.DomainEndpoint("secondary", secondary.Addr(), nil))})

	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "primary", r.header.Get("X-Upstream"), "the upstream's own answer")
	assert.Contains(t, r.body, "scripted status 503")
	assert.Equal(t, 2, primary.Count())
	assert.Zero(t, secondary.Count())
}

// When round robin picked the last endpoint first, fallback wraps around.
func TestFallbackWrapsAround(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	b := llmstub.Start(t, llmstub.WithName("b"))
	c := llmstub.Start(t, llmstub.WithName("c"))
	meta := &model.LLMMeta{Fallback: true}
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("a", a.Addr(), meta), gatewayconfig.DomainEndpoint("b", b.Addr(), meta), gatewayconfig.DomainEndpoint("c", c.Addr(), meta))})
	hc := client(t)

	// Round robin starts at a: two requests move it on to c.
	assert.Equal(t, "Hello from a", content(t, post(t, hc, g.URL+"/v1/chat/completions", chatBody).body))
	assert.Equal(t, "Hello from b", content(t, post(t, hc, g.URL+"/v1/chat/completions", chatBody).body))
	c.Script(llmstub.Status(502))
	r := post(t, hc, g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "Hello from a", content(t, r.body), "after c comes a")
	assert.Equal(t, 1, c.Count())
	assert.Equal(t, 2, a.Count())
}

func TestEveryEndpointTriedOnceThenLastAnswerReturned(t *testing.T) {
	stubs := make([]*llmstub.Stub, 3)
	var eps []*model.Endpoint
	for i, name := range []string{"a", "b", "c"} {
		stubs[i] = llmstub.Start(t, llmstub.WithName(name), llmstub.WithDefault(llmstub.Status(500).WithHeader("X-Upstream", name)))
		eps = append(eps, gatewayconfig.DomainEndpoint(name, stubs[i].Addr(), &model.LLMMeta{Fallback: true}))
	}
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", eps...)})
	hc := client(t)
	r := post(t, hc, g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, "c", r.header.Get("X-Upstream"), "the last endpoint's answer")
	for _, s := range stubs {
		assert.Equal(t, 1, s.Count(), "each endpoint once per request")
	}
}

// A backoff wait ends when the client goes away, and nothing more is sent.
func TestClientCancelDuringBackoffStopsAttempts(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("flaky"), llmstub.WithDefault(llmstub.Status(503)))
	other := llmstub.Start(t, llmstub.WithName("other"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("flaky", stub.Addr(), &model.LLMMeta{Fallback: true, RetryPolicy: model.RetryPolicy{Name: "ExponentialBackoff", Config: map[string]any{"times": 3, "initialInterval": "1s", "multiplier": 1}}}),
		gatewayconfig.DomainEndpoint("other", other.Addr(), &model.LLMMeta{Fallback: true}))})

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		resp, err := client(t).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, 5*time.Second, func() bool { return stub.Count() == 1 }, "first attempt")
	cancelled := time.Now()
	cancel()
	require.Error(t, <-done)

	gone := map[string]string{"cluster": "chat", "endpoint": "flaky", "code": "4xx"}
	eventually(t, 5*time.Second, func() bool { return g.scrape(t).Sum("pixiu_llm_requests_total", gone) == 1 },
		"the gateway gives up on the request")
	// Without the cancel the request would last at least 1.5s more (three waits of 0.5s..1s).
	assert.Less(t, time.Since(cancelled), time.Second, "the wait was cut short")
	// The next retry would have come 0.5s..1s after the first attempt.
	time.Sleep(1200 * time.Millisecond)
	assert.Equal(t, 1, stub.Count(), "no attempt after the client left")
	assert.Zero(t, other.Count(), "no fallback after the client left")
}

func TestRetryAfterIsHonouredUpToMaxInterval(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     model.RetryPolicy
		retryAfter string
		minGap     time.Duration
		maxGap     time.Duration
	}{
		{"honoured", model.RetryPolicy{Name: "CountBased", Config: map[string]any{"times": 1, "maxInterval": "5s"}}, "1", 950 * time.Millisecond, 3 * time.Second},
		{"capped at maxInterval", model.RetryPolicy{Name: "CountBased", Config: map[string]any{"times": 1, "maxInterval": "300ms"}}, "30", 280 * time.Millisecond, 5 * time.Second},
		{"longer than the backoff", model.RetryPolicy{Name: "ExponentialBackoff", Config: map[string]any{"times": 1, "initialInterval": "10ms", "maxInterval": "400ms"}}, "5", 380 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := llmstub.Start(t, llmstub.WithName("limited"))
			stub.Script(llmstub.Status(429).WithHeader("Retry-After", tc.retryAfter))
			g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
				gatewayconfig.DomainEndpoint("limited", stub.Addr(), &model.LLMMeta{RetryPolicy: tc.policy}))})
			r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
			require.Equal(t, http.StatusOK, r.status, r.body)
			reqs := stub.Requests()
			require.Len(t, reqs, 2)
			gap := reqs[1].ReceivedAt.Sub(reqs[0].ReceivedAt)
			assert.GreaterOrEqual(t, gap, tc.minGap)
			assert.Less(t, gap, tc.maxGap)
		})
	}
}

func TestCooldownSkipsFailedEndpointThenUsesItAgain(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	b := llmstub.Start(t, llmstub.WithName("b"))
	meta := &model.LLMMeta{Fallback: true, HealthCheckInterval: 1000}
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("a", a.Addr(), meta), gatewayconfig.DomainEndpoint("b", b.Addr(), meta))})
	hc := client(t)

	a.Script(llmstub.Status(503))
	start := time.Now()
	r := post(t, hc, g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, "Hello from b", content(t, r.body))
	assert.Equal(t, 1.0, g.scrape(t).Sum("pixiu_llm_cooldowns_total", map[string]string{"endpoint": "a"}))
	assert.Contains(t, g.logs.String(), "endpoint cooling down")

	// Round robin would alternate; while a cools down every request goes to b.
	for i := 0; i < 4; i++ {
		assert.Equal(t, "Hello from b", content(t, post(t, hc, g.URL+"/v1/chat/completions", chatBody).body))
	}
	require.Less(t, time.Since(start), time.Second, "machine too slow for this test's cooldown")
	assert.Equal(t, 1, a.Count())

	time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		seen[content(t, post(t, hc, g.URL+"/v1/chat/completions", chatBody).body)] = true
	}
	assert.True(t, seen["Hello from a"], "a is used again after its cooldown")
}

func TestAllEndpointsCoolingAreStillTried(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(503)))
	b := llmstub.Start(t, llmstub.WithName("b"), llmstub.WithDefault(llmstub.Status(503)))
	meta := &model.LLMMeta{Fallback: true, HealthCheckInterval: 60000}
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("a", a.Addr(), meta), gatewayconfig.DomainEndpoint("b", b.Addr(), meta))})
	hc := client(t)

	assert.Equal(t, http.StatusServiceUnavailable, post(t, hc, g.URL+"/v1/chat/completions", chatBody).status)
	assert.Equal(t, 1, a.Count())
	assert.Equal(t, 1, b.Count())

	// Both cool down for a minute; the next request still tries them rather than fail fast.
	b.SetDefault(llmstub.OK())
	r := post(t, hc, g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "Hello from b", content(t, r.body))
}
