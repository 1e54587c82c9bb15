package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

type event struct {
	data string
	at   time.Time
}

// readEvents returns the SSE data lines of body with their arrival times, and the read error
// that ended the body (nil at a clean end).
func readEvents(body io.Reader) ([]event, error) {
	var events []event
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, event{data: data, at: time.Now()})
		}
	}
	return events, sc.Err()
}

func postStream(t *testing.T, ctx context.Context, url string, includeUsage bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(streamBody(includeUsage)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client(t).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Neither the filter timeout nor the listener's write/read timeouts cut a healthy
// stream that lasts longer than all of them.
func TestStreamOutlivesTimeouts(t *testing.T) {
	const chunks, interval = 15, 100 * time.Millisecond
	stub := llmstub.Start(t, llmstub.WithName("slow"), llmstub.WithStream(chunks, interval))
	g := startGateway(t, gatewaySpec{
		filter:   map[string]any{"timeout": "200ms", "scheme": "http"},
		listener: model.HTTPListenerConfig{WriteTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, IdleTimeout: time.Second},
		cluster:  gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("slow", stub.Addr(), countBased2)),
	})

	start := time.Now()
	resp := postStream(t, context.Background(), g.URL, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events, err := readEvents(resp.Body)
	require.NoError(t, err, "the stream was cut")
	require.Len(t, events, chunks+2, "content chunks, the finish chunk and [DONE]")
	assert.Equal(t, "[DONE]", events[len(events)-1].data)
	assert.Greater(t, time.Since(start), time.Duration(chunks-1)*interval)
	assert.Greater(t, events[chunks-1].at.Sub(events[0].at), time.Duration(chunks-1)*interval*2/3, "chunks arrive spread out")
	assert.Equal(t, 1, stub.Count(), "no retry")
}

// A slow unary answer that starts after the listener's write_timeout still reaches the client.
func TestSlowAnswerOutlivesWriteTimeout(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("slow"), llmstub.WithDefault(llmstub.Delay(500*time.Millisecond)))
	g := startGateway(t, gatewaySpec{
		filter:   map[string]any{"timeout": "2s", "scheme": "http"},
		listener: model.HTTPListenerConfig{WriteTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond},
		cluster:  gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("slow", stub.Addr(), nil)),
	})
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "Hello from slow", content(t, r.body))
}

// Time to first byte is taken when the first byte arrives, not at the end.
func TestFirstByteMeasuredAtFirstByte(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("s"), llmstub.WithStream(8, 150*time.Millisecond))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("s", stub.Addr(), nil))})

	resp := postStream(t, context.Background(), g.URL, true)
	events, err := readEvents(resp.Body)
	require.NoError(t, err)
	require.NotEmpty(t, events)

	labels := map[string]string{"cluster": "chat", "endpoint": "s"}
	eventually(t, 2*time.Second, func() bool {
		return float64(g.scrape(t).HistogramCount(t, "pixiu_llm_upstream_duration_seconds", labels)) == 1
	}, "attempt recorded")
	assert.Equal(t, 1.0, float64(g.scrape(t).HistogramCount(t, "pixiu_llm_time_to_first_byte_seconds", labels)))
	ttfb := g.scrape(t).HistogramSum(t, "pixiu_llm_time_to_first_byte_seconds", labels)
	total := g.scrape(t).HistogramSum(t, "pixiu_llm_upstream_duration_seconds", labels)
	assert.Greater(t, total, 1.0, "the stream lasted over a second")
	assert.Less(t, ttfb, total/2, "first byte long before the end")
	assert.Positive(t, g.scrape(t).Sum("pixiu_llm_tokens_total", map[string]string{"cluster": "chat", "kind": "completion"}))
}

// Once bytes went to the client there is no retry and no fallback; a stream that breaks off
// reaches the client as a broken stream, not as a complete one.
func TestBrokenStreamIsNotRetried(t *testing.T) {
	var primaryCalls atomic.Int32
	release := make(chan struct{})
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		primaryCalls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 2; i++ {
			_, _ = io.WriteString(w, "data: {\"choices\":[]}\n\n")
			_ = http.NewResponseController(w).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler) // the upstream dies mid-stream
	}))
	t.Cleanup(primary.Close)
	secondary := llmstub.Start(t, llmstub.WithName("secondary"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("primary", primary.Listener.Addr().String(), countBased2),
		gatewayconfig.DomainEndpoint("secondary", secondary.Addr(), countBased2))})

	resp := postStream(t, context.Background(), g.URL, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := bufio.NewReader(resp.Body)
	for got := 0; got < 2; {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, "data: ") {
			got++
		}
	}
	close(release)
	_, err := io.ReadAll(r)
	require.Error(t, err, "the client learns that the stream broke off")
	assert.Equal(t, int32(1), primaryCalls.Load())
	assert.Zero(t, secondary.Count())
}

func TestClientLeavingMidStreamReleasesUpstream(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("s"), llmstub.WithDefault(llmstub.StallAfter(1, llmstub.Forever)))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("s", stub.Addr(), countBased2))})

	ctx, cancel := context.WithCancel(context.Background())
	resp := postStream(t, ctx, g.URL, false)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "data: "))
	cancel()
	eventually(t, 5*time.Second, func() bool {
		return g.scrape(t).Sum("pixiu_llm_requests_total", map[string]string{"endpoint": "s", "code": "4xx"}) == 1
	}, "request ends when the client leaves")
	assert.Equal(t, 1, stub.Count())
}
