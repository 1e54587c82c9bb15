package limit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// Limiter applies each consumer's limits. It is safe for concurrent use.
type Limiter struct {
	limits  map[string]Limits
	store   Store
	now     func() time.Time
	metrics *metrics.Metrics
	logger  *slog.Logger
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithStore keeps the buckets in s instead of this process's memory.
func WithStore(s Store) Option { return func(l *Limiter) { l.store = s } }

// WithClock makes the limiter read the time from now (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithMetrics counts requests, tokens and rejections per consumer in m.
func WithMetrics(m *metrics.Metrics) Option { return func(l *Limiter) { l.metrics = m } }

// WithLogger logs store failures to logger; nil keeps slog.Default.
func WithLogger(logger *slog.Logger) Option {
	return func(l *Limiter) {
		if logger != nil {
			l.logger = logger
		}
	}
}

// New returns a limiter for the consumers' limits (by consumer name; consumers not in the map
// are not limited). It rejects negative limits, naming the consumer and the key.
func New(limits map[string]Limits, opts ...Option) (*Limiter, error) {
	l := &Limiter{limits: make(map[string]Limits, len(limits)), store: NewMemory(), now: time.Now, logger: slog.Default()}
	for name, lim := range limits {
		if err := lim.Validate(); err != nil {
			return nil, fmt.Errorf("consumer %q: limits.%w", name, err)
		}
		if !lim.None() {
			l.limits[name] = lim
		}
	}
	for _, opt := range opts {
		opt(l)
	}
	return l, nil
}

// Admit decides whether a request of consumer may go upstream now.
// A refused request costs the consumer nothing.
func (l *Limiter) Admit(consumer string) Decision {
	lim, ok := l.limits[consumer]
	if !ok {
		return Decision{OK: true}
	}
	d, err := l.store.Admit(context.Background(), consumer, lim, l.now())
	if err != nil {
		l.logger.Warn("consumer limits: store failed; request admitted", "consumer", consumer, "error", err)
		d = Decision{OK: true}
	}
	if !d.OK {
		l.metrics.ConsumerLimited(consumer, d.Limit)
	}
	return d
}

// Charge takes the tokens a response of consumer used, once the response has ended.
func (l *Limiter) Charge(consumer string, tokens int64) {
	if tokens <= 0 {
		return
	}
	lim, ok := l.limits[consumer]
	if !ok || lim.TokensPerMinute <= 0 {
		return
	}
	if err := l.store.Charge(context.Background(), consumer, lim, tokens, l.now()); err != nil {
		l.logger.Warn("consumer limits: store failed; tokens not charged", "consumer", consumer, "tokens", tokens, "error", err)
	}
}

// Observe charges the total tokens of a finished request to its consumer, when the request had
// one and the upstream reported usage (a stream reports it only when its request asks with
// stream_options.include_usage, which the proxy adds to requests marked
// filter.WithUsageWanted). It suits a filter.Observer.
func (l *Limiter) Observe(rec *filter.Record) {
	if rec.Consumer == "" || !rec.Usage.Reported {
		return
	}
	l.Charge(rec.Consumer, rec.Usage.Total)
}

// RetryAfterSeconds is d in whole seconds for a Retry-After header: rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// WriteRejection answers a refused request: 429 with Retry-After and an error in OpenAI's shape
// (type "requests" or "tokens", code "rate_limit_exceeded", as OpenAI's own limits answer).
func WriteRejection(w http.ResponseWriter, consumer string, d Decision) {
	secs := RetryAfterSeconds(d.RetryAfter)
	typ := "requests"
	if d.Limit == TokensPerMinute {
		typ = "tokens"
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	openaierror.Write(w, http.StatusTooManyRequests, typ, "rate_limit_exceeded",
		fmt.Sprintf("Consumer %q reached its limit of %d %s per minute (%s). Please try again in %ds.", consumer, d.Max, typ, d.Limit, secs))
}
