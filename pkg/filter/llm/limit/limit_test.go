package limit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
)

// clock is a settable time for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t *testing.T, c *clock, limits map[string]limit.Limits, opts ...limit.Option) *limit.Limiter {
	t.Helper()
	l, err := limit.New(limits, append([]limit.Option{limit.WithClock(c.now)}, opts...)...)
	require.NoError(t, err)
	return l
}

func TestRequestsPerMinuteRefillContinuously(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {RequestsPerMinute: 3}})

	for i := range 3 {
		assert.True(t, l.Admit("team-a").OK, "request %d of a full bucket", i+1)
	}
	d := l.Admit("team-a")
	assert.False(t, d.OK)
	assert.Equal(t, limit.RequestsPerMinute, d.Limit)
	assert.Equal(t, int64(3), d.Max)
	assert.Equal(t, 20*time.Second, d.RetryAfter, "one request refills every 60s/3")

	c.advance(19 * time.Second)
	d = l.Admit("team-a")
	assert.False(t, d.OK, "a refused request costs nothing, and the refill is not there yet")
	assert.Equal(t, time.Second, d.RetryAfter)

	c.advance(time.Second)
	assert.True(t, l.Admit("team-a").OK, "after Retry-After")
	assert.False(t, l.Admit("team-a").OK, "one request refilled, one taken")

	c.advance(time.Hour)
	for i := range 3 {
		assert.True(t, l.Admit("team-a").OK, "idle: the bucket holds one minute's worth, %d", i+1)
	}
	assert.False(t, l.Admit("team-a").OK, "and no more")
}

func TestRequestsAtTheLimitRateAreAlwaysAdmitted(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"steady": {RequestsPerMinute: 60}, "fast": {RequestsPerMinute: 60}})
	admitted := 0
	for range 600 { // ten minutes
		assert.True(t, l.Admit("steady").OK)
		for range 2 {
			if l.Admit("fast").OK {
				admitted++
			}
		}
		c.advance(time.Second)
	}
	// Twice the rate: the first minute's burst, then one per second.
	assert.Equal(t, 60+599, admitted)
}

func TestTokensAreChargedAfterTheFact(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {TokensPerMinute: 1000}})

	require.True(t, l.Admit("team-a").OK)
	l.Charge("team-a", 600)
	require.True(t, l.Admit("team-a").OK, "400 tokens left")
	l.Charge("team-a", 600) // the response that crosses the limit is served: its size was unknown
	d := l.Admit("team-a")
	require.False(t, d.OK, "1200 of 1000 used: overdrawn")
	assert.Equal(t, limit.TokensPerMinute, d.Limit)
	assert.Equal(t, int64(1000), d.Max)
	// 200 tokens over: paid back at 1000 per minute in 12s, and the bucket must hold more than 0.
	assert.InDelta(t, (12 * time.Second).Seconds(), d.RetryAfter.Seconds(), 0.001)
	assert.Equal(t, int64(13), limit.RetryAfterSeconds(d.RetryAfter), "rounded up: the bucket is empty at exactly 12s")

	c.advance(12 * time.Second)
	assert.False(t, l.Admit("team-a").OK, "at 12s the bucket is exactly empty")
	c.advance(time.Millisecond)
	assert.True(t, l.Admit("team-a").OK, "served again once the debt is paid")
}

func TestLargeOverdraftWaitsInProportion(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {TokensPerMinute: 100}})
	l.Charge("team-a", 1000) // ten minutes' worth in one response
	d := l.Admit("team-a")
	require.False(t, d.OK)
	assert.InDelta(t, (9 * time.Minute).Seconds(), d.RetryAfter.Seconds(), 0.001)
	c.advance(d.RetryAfter)
	assert.True(t, l.Admit("team-a").OK)
}

func TestBothLimits(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {RequestsPerMinute: 2, TokensPerMinute: 100}})
	l.Charge("team-a", 150)
	d := l.Admit("team-a")
	require.False(t, d.OK)
	assert.Equal(t, limit.TokensPerMinute, d.Limit)

	c.advance(31 * time.Second) // 50 over at 100/min: paid back after 30s
	assert.True(t, l.Admit("team-a").OK, "the refused request did not take a request from the bucket")
	assert.True(t, l.Admit("team-a").OK)
	d = l.Admit("team-a")
	require.False(t, d.OK)
	assert.Equal(t, limit.RequestsPerMinute, d.Limit)
	assert.Equal(t, 30*time.Second, d.RetryAfter)

	l.Charge("team-a", 300) // tokens now wait longer than requests: the longer wait is reported
	d = l.Admit("team-a")
	assert.Equal(t, limit.TokensPerMinute, d.Limit)
	assert.Greater(t, d.RetryAfter, 30*time.Second)
}

func TestConsumersWithoutLimits(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"free": {}, "capped": {RequestsPerMinute: 1}})
	for range 1000 {
		require.True(t, l.Admit("free").OK)
		require.True(t, l.Admit("unknown").OK)
	}
	l.Charge("free", 1<<40)
	assert.True(t, l.Admit("free").OK)
	assert.True(t, l.Admit("capped").OK)
	assert.False(t, l.Admit("capped").OK, "consumers do not share buckets")

	capped := newLimiter(t, c, map[string]limit.Limits{"requests-only": {RequestsPerMinute: 1000}})
	capped.Charge("requests-only", 1<<40)
	assert.True(t, capped.Admit("requests-only").OK, "tokens are not limited without tokens_per_minute")
}

func TestNegativeLimitsAreRejectedNamingTheKey(t *testing.T) {
	_, err := limit.New(map[string]limit.Limits{"team-a": {RequestsPerMinute: 10, TokensPerMinute: -1}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `consumer "team-a": limits.tokens_per_minute: -1 is negative`)
}

func TestObserveChargesTheRecordsUsage(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {TokensPerMinute: 100}})
	l.Observe(&filter.Record{Usage: filter.Usage{Total: 500, Reported: true}})     // no consumer
	l.Observe(&filter.Record{Consumer: "team-a", Usage: filter.Usage{Total: 500}}) // not reported
	l.Observe(&filter.Record{Consumer: "team-a", Status: 200, Usage: filter.Usage{Total: 99, Reported: true}})
	assert.True(t, l.Admit("team-a").OK, "99 of 100")
	l.Observe(&filter.Record{Consumer: "team-a", Status: 200, Usage: filter.Usage{Prompt: 1, Total: 1, Reported: true}})
	assert.False(t, l.Admit("team-a").OK, "100 of 100")
}

func TestConcurrentAdmitsAndChargesAreExact(t *testing.T) {
	c := newClock() // the clock stands still: nothing refills
	l := newLimiter(t, c, map[string]limit.Limits{"requests": {RequestsPerMinute: 1000}, "tokens": {TokensPerMinute: 60_000}})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if l.Admit("requests").OK {
					admitted.Add(1)
				}
				if l.Admit("tokens").OK {
					l.Charge("tokens", 30)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1000), admitted.Load(), "2000 tries, 1000 in the bucket")
	// 2000 charges of 30 tokens are exactly the bucket: one lost charge would leave room.
	d := l.Admit("tokens")
	assert.False(t, d.OK)
	assert.Equal(t, time.Nanosecond, d.RetryAfter)
}

func TestStoreFailureAdmits(t *testing.T) {
	var logs logcapture.Buffer
	l, err := limit.New(map[string]limit.Limits{"team-a": {RequestsPerMinute: 1, TokensPerMinute: 1}},
		limit.WithStore(failingStore{}), limit.WithLogger(newLogger(&logs)))
	require.NoError(t, err)
	for range 3 {
		assert.True(t, l.Admit("team-a").OK)
	}
	l.Charge("team-a", 10)
	assert.Contains(t, logs.String(), "store failed; request admitted")
	assert.Contains(t, logs.String(), "store failed; tokens not charged")
}

// The limiter counts what it refuses, by consumer and limit; requests and tokens of every
// consumer are counted by the auth filter, limits or not.
func TestRefusalsAreCountedByConsumerAndLimit(t *testing.T) {
	c := newClock()
	m := metrics.New()
	l := newLimiter(t, c, map[string]limit.Limits{"team-a": {RequestsPerMinute: 2, TokensPerMinute: 10}}, limit.WithMetrics(m))
	for range 3 {
		l.Admit("team-a")
	}
	l.Admit("free")
	l.Charge("team-a", 25)
	l.Charge("free", 7)
	c.advance(time.Minute)
	l.Admit("team-a") // refused by tokens

	scrape := scrapeMetrics(t, m)
	assert.Equal(t, 1.0, scrape.Value(t, "pixiu_consumer_limited_total", metricstest.Labels{"consumer": "team-a", "limit": "requests_per_minute"}))
	assert.Equal(t, 1.0, scrape.Value(t, "pixiu_consumer_limited_total", metricstest.Labels{"consumer": "team-a", "limit": "tokens_per_minute"}))
	assert.Equal(t, 0.0, scrape.Value(t, "pixiu_consumer_limited_total", metricstest.Labels{"consumer": "free", "limit": "requests_per_minute"}))
}

func TestWriteRejection(t *testing.T) {
	for _, tc := range []struct {
		d          limit.Decision
		retryAfter string
		typ, text  string
	}{
		{limit.Decision{RetryAfter: 12*time.Second + time.Millisecond, Limit: limit.TokensPerMinute, Max: 1000}, "13", "tokens",
			`Consumer "team-a" reached its limit of 1000 tokens per minute (tokens_per_minute). Please try again in 13s.`},
		{limit.Decision{RetryAfter: time.Millisecond, Limit: limit.RequestsPerMinute, Max: 60}, "1", "requests",
			`Consumer "team-a" reached its limit of 60 requests per minute (requests_per_minute). Please try again in 1s.`},
	} {
		w := httptest.NewRecorder()
		limit.WriteRejection(w, "team-a", tc.d)
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		var body struct {
			Error struct{ Message, Type, Code string }
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Equal(t, tc.typ, body.Error.Type)
		assert.Equal(t, "rate_limit_exceeded", body.Error.Code)
		assert.Equal(t, tc.text, body.Error.Message)
	}
}

type failingStore struct{}

func (failingStore) Admit(context.Context, string, limit.Limits, time.Time) (limit.Decision, error) {
	return limit.Decision{}, errors.New("store unreachable")
}

func (failingStore) Charge(context.Context, string, limit.Limits, int64, time.Time) error {
	return errors.New("store unreachable")
}

func newLogger(w *logcapture.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

func scrapeMetrics(t *testing.T, m *metrics.Metrics) *metricstest.Scrape {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	return metricstest.Parse(t, w.Body.String())
}

// BenchmarkAdmitAndCharge is the limiter's cost per request with both limits on: one admission
// and one charge, from all CPUs, over 100 consumers.
func BenchmarkAdmitAndCharge(b *testing.B) {
	limits := map[string]limit.Limits{}
	names := make([]string, 100)
	for i := range names {
		names[i] = "consumer-" + strconv.Itoa(i)
		limits[names[i]] = limit.Limits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50}
	}
	l, err := limit.New(limits, limit.WithMetrics(metrics.New()))
	require.NoError(b, err)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		name := names[next.Add(1)%int64(len(names))]
		for pb.Next() {
			if !l.Admit(name).OK {
				b.Fatal("refused")
			}
			l.Charge(name, 100)
		}
	})
}
