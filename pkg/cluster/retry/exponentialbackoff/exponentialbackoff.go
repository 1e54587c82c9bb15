// Package exponentialbackoff provides the ExponentialBackoff retry policy: retries on the same
// endpoint with exponentially growing, jittered waits.
//
// Config (every key optional):
//
//	times:           retries after the first attempt, 0..100 (default 3); attempts = times + 1.
//	initialInterval: the wait before the first retry, > 0 (default 200ms).
//	maxInterval:     the longest wait, >= initialInterval (default 5s, or initialInterval when
//	                 that is longer); also the longest Retry-After (on 429 and 503) honoured.
//	multiplier:      growth factor per retry, >= 1 (default 2).
//
// Durations are Go durations ("200ms", "1.5s") or numbers of milliseconds (200, "200"). Numbers
// may arrive as 3, 3.0 or "3".
//
// The wait before retry n is drawn uniformly from [c/2, c] ("equal jitter"), where
// c = min(initialInterval * multiplier^(n-1), maxInterval): concurrent requests that failed
// together spread out, and no wait is shorter than half its nominal value.
package exponentialbackoff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
)

// Name is the registered name of the policy (matched case-insensitively).
const Name = "ExponentialBackoff"

// Defaults and bounds of the config.
const (
	DefaultTimes           = 3
	MaxTimes               = 100
	DefaultInitialInterval = 200 * time.Millisecond
	DefaultMaxInterval     = 5 * time.Second
	DefaultMultiplier      = 2.0
)

func init() {
	retry.Register(Name, New)
}

type policy struct {
	attempts   int
	initial    time.Duration
	max        time.Duration
	multiplier float64
}

// New builds the policy from its config; errors name the offending key.
func New(config map[string]any) (retry.Policy, error) {
	if err := retry.CheckKeys(config, "times", "initialInterval", "maxInterval", "multiplier"); err != nil {
		return nil, err
	}
	times, err := retry.IntParam(config, "times", DefaultTimes, MaxTimes)
	if err != nil {
		return nil, err
	}
	initial, err := retry.DurationParam(config, "initialInterval", DefaultInitialInterval)
	if err != nil {
		return nil, err
	}
	if initial == 0 {
		return nil, fmt.Errorf("config key %q: must be greater than 0", "initialInterval")
	}
	// Without a maxInterval, an initialInterval above the default cap raises the cap to it.
	maxInterval, err := retry.DurationParam(config, "maxInterval", max(initial, DefaultMaxInterval))
	if err != nil {
		return nil, err
	}
	if maxInterval < initial {
		return nil, fmt.Errorf("config key %q: %s is less than initialInterval %s", "maxInterval", maxInterval, initial)
	}
	multiplier, err := retry.FloatParam(config, "multiplier", DefaultMultiplier)
	if err != nil {
		return nil, err
	}
	if multiplier < 1 {
		return nil, fmt.Errorf("config key %q: must be at least 1, got %v", "multiplier", config["multiplier"])
	}
	return policy{attempts: times + 1, initial: initial, max: maxInterval, multiplier: multiplier}, nil
}

func (policy) Name() string                 { return Name }
func (p policy) Attempts() int              { return p.attempts }
func (p policy) MaxInterval() time.Duration { return p.max }

// Backoff returns a wait in [c/2, c], c being ceiling(n).
func (p policy) Backoff(n int) time.Duration {
	c := p.ceiling(n)
	half := c / 2
	return half + time.Duration(rand.Int64N(int64(c-half)+1))
}

// ceiling is the nominal wait before retry n: initial * multiplier^(n-1), capped at max.
func (p policy) ceiling(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(p.initial) * math.Pow(p.multiplier, float64(n-1))
	if d >= float64(p.max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.max
	}
	return time.Duration(d)
}
