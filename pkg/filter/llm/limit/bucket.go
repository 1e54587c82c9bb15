// Package limit holds per-consumer limits of the LLM gateway: requests per minute, counted when
// a request is admitted, and tokens per minute, charged from the usage an upstream reported once
// its response ended. The auth filter (dgp.filter.llm.auth) admits each request of a consumer
// with Limiter.Admit and charges the tokens with Limiter.Charge (or Limiter.Observe, given the
// request's filter.Record).
//
// # Window algorithm
//
// Each limit is a token bucket holding one minute's worth (requests_per_minute requests, or
// tokens_per_minute tokens) that refills continuously at that rate. A request takes one request
// from its bucket and is refused while fewer than one is left. Tokens are only known when the
// response has ended, so they are taken then, and may overdraw the bucket: a request is refused
// while the token bucket is overdrawn or empty, and a consumer that overdrew it waits until the
// refill has paid the debt back. A token bucket rather than a sliding window because:
//   - a consumer that sent nothing for a while may send a burst of up to one minute's worth, and
//     after that gets exactly the configured rate, with no cliff at a window edge;
//   - charging after the fact is natural: the debt is paid back at the refill rate, so
//     Retry-After is exact (the time until the bucket is no longer overdrawn);
//   - the state per consumer and limit is one number, the time at which the bucket will be full
//     again (the theoretical arrival time of the generic cell rate algorithm), which a shared
//     store can keep and update atomically (a Redis key with a TTL, a compare-and-swap).
//
// Over any minute a consumer gets at most twice its limit (a full bucket plus a minute of
// refill), and over a longer span the limit per minute on average. Tokens can overshoot by what
// the requests already admitted use; the overshoot delays the consumer's next requests.
//
// # State
//
// The buckets live in a Store. Memory is the per-process store: every gateway process counts
// for itself, so with N gateway processes behind a load balancer a consumer gets up to N times
// its limits. A shared store implements the same two operations (Store) atomically per consumer,
// with State's arithmetic.
package limit

import (
	"fmt"
	"math"
	"time"

	"github.com/pixiu-llm/gateway/pkg/config"
)

// Window is the period the limits are expressed in.
const Window = time.Minute

// Names of the limits, as in pixiu.yaml; Decision.Limit and the metrics' limit label use them.
const (
	RequestsPerMinute = "requests_per_minute"
	TokensPerMinute   = "tokens_per_minute"
)

// Limits are a consumer's limits, the `limits` key of a consumer of dgp.filter.llm.auth. Zero
// means no limit.
type Limits struct {
	RequestsPerMinute int64 `yaml:"requests_per_minute" json:"requests_per_minute"`
	TokensPerMinute   int64 `yaml:"tokens_per_minute" json:"tokens_per_minute"`
}

// Validate rejects a negative limit with a *config.FieldError whose path is the key
// (requests_per_minute or tokens_per_minute), relative to the consumer's limits.
func (l Limits) Validate() error {
	for _, f := range []struct {
		key   string
		value int64
	}{{RequestsPerMinute, l.RequestsPerMinute}, {TokensPerMinute, l.TokensPerMinute}} {
		if f.value < 0 {
			return &config.FieldError{Path: f.key, Err: fmt.Errorf("%d is negative (0 or absent means no limit)", f.value)}
		}
	}
	return nil
}

// None reports whether l limits nothing.
func (l Limits) None() bool { return l.RequestsPerMinute <= 0 && l.TokensPerMinute <= 0 }

// Decision is the outcome of admitting a request.
type Decision struct {
	OK bool
	// RetryAfter is how long until a request of the consumer can be admitted; 0 when OK.
	RetryAfter time.Duration
	// Limit names the limit that refused the request (RequestsPerMinute or TokensPerMinute;
	// the one with the longer wait when both did), and Max is its value; empty when OK.
	Limit string
	Max   int64
}

// State is the state of one consumer's buckets: for each limit, the time (unix nanoseconds) at
// which its bucket will be full again; a time in the past means full. The zero State is two
// full buckets. State is not safe for concurrent use: a Store serializes the operations of one
// consumer.
type State struct {
	RequestsFull int64 `json:"requests_full"`
	TokensFull   int64 `json:"tokens_full"`
}

// Admit takes one request from the request bucket if both limits allow a request at now.
func (s *State) Admit(l Limits, now time.Time) Decision {
	t := now.UnixNano()
	var d Decision
	var requestsFull int64
	if l.RequestsPerMinute > 0 {
		// The request bucket needs room for one more request: its backlog plus one request's
		// share of the window must not exceed the window.
		requestsFull = satAdd(max(s.RequestsFull, t), perUnit(1, l.RequestsPerMinute))
		if wait := requestsFull - t - int64(Window); wait > 0 {
			d = Decision{RetryAfter: time.Duration(wait), Limit: RequestsPerMinute, Max: l.RequestsPerMinute}
		}
	}
	if l.TokensPerMinute > 0 {
		// The token bucket must not be empty or overdrawn: a backlog shorter than the window.
		if wait := s.TokensFull - t - int64(Window) + 1; wait > 0 && time.Duration(wait) > d.RetryAfter {
			d = Decision{RetryAfter: time.Duration(wait), Limit: TokensPerMinute, Max: l.TokensPerMinute}
		}
	}
	if d.Limit != "" {
		return d
	}
	if l.RequestsPerMinute > 0 {
		s.RequestsFull = requestsFull
	}
	return Decision{OK: true}
}

// Charge takes tokens from the token bucket at now, overdrawing it if need be.
func (s *State) Charge(l Limits, tokens int64, now time.Time) {
	if l.TokensPerMinute <= 0 || tokens <= 0 {
		return
	}
	s.TokensFull = satAdd(max(s.TokensFull, now.UnixNano()), perUnit(tokens, l.TokensPerMinute))
}

// perUnit is the time in which a bucket of limit per Window refills n units, in nanoseconds.
func perUnit(n, limit int64) int64 {
	d := float64(n) * float64(Window) / float64(limit)
	if d >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(math.Ceil(d))
}

// satAdd adds without overflowing.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
