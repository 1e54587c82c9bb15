package proxy

import (
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
)

// warnInterval is how often one kind of WARN line is written per endpoint and reason; a storm
// of failing requests writes one line per interval, with the count of the lines it held back.
const warnInterval = 10 * time.Second

// warnLimiter decides which WARN lines are written. Keys are bounded by endpoints × reasons;
// entries older than the interval are dropped when the map grows.
type warnLimiter struct {
	mu    sync.Mutex
	every time.Duration
	seen  map[string]*warnState
}

type warnState struct {
	last       time.Time
	suppressed int
}

// maxWarnKeys is the map size past which stale entries are swept.
const maxWarnKeys = 1024

func newWarnLimiter(every time.Duration) *warnLimiter {
	return &warnLimiter{every: every, seen: map[string]*warnState{}}
}

// allow reports whether the line of key may be written at now and how many lines of key were
// held back since the last one written.
func (l *warnLimiter) allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.seen[key]
	if st == nil {
		if len(l.seen) >= maxWarnKeys {
			l.sweep(now)
		}
		l.seen[key] = &warnState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < l.every {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	st.last, st.suppressed = now, 0
	return true, suppressed
}

func (l *warnLimiter) sweep(now time.Time) {
	for k, st := range l.seen {
		if now.Sub(st.last) >= l.every {
			delete(l.seen, k)
		}
	}
}

// warn writes a WARN line about an endpoint of the request's cluster, naming the failure that
// led to it, at most once per warnInterval for the same message, endpoint and failure.
func (x *exchange) warn(msg, endpoint string, attrs ...any) {
	var last failure
	if n := len(x.failures); n > 0 {
		last = x.failures[n-1]
	}
	ok, suppressed := x.p.warnings.allow(msg+"\x00"+x.cluster.Name+"\x00"+endpoint+"\x00"+last.kind, time.Now())
	if !ok {
		return
	}
	args := make([]any, 0, 8+len(attrs))
	args = append(args, "cluster", x.cluster.Name, "endpoint", endpoint)
	if last.kind != "" {
		args = append(args, "failure", last.kind)
	}
	if last.err != nil {
		args = append(args, "error", last.err)
	}
	args = append(args, attrs...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	x.p.logger.Warn(msg, args...)
}

// warnFallback says that the request leaves an endpoint that failed for the next one.
func (x *exchange) warnFallback(from, to *cluster.Member) {
	x.warn("endpoint failed; falling back to the next one", from.ID(), "next", to.ID())
}

// warnUnanswered says that no endpoint gave the request a usable answer.
func (x *exchange) warnUnanswered() {
	x.warn("no endpoint answered the request", x.lastMember.ID(), "tried", x.rec.Tried, "attempts", x.rec.Attempts)
}
