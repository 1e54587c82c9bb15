// Package countbased provides the CountBased retry policy: a fixed number of retries on the same
// endpoint, sent right away.
//
// Config (every key optional):
//
//	times:       retries after the first attempt, 0..100 (default 3); attempts = times + 1.
//	             2, 2.0 and "2" are the same value.
//	maxInterval: the longest Retry-After (on 429 and 503) the gateway waits for before a retry,
//	             a Go duration or a number of milliseconds (default 1s).
//
// There is no wait between attempts unless the upstream asks for one with Retry-After: a failed
// connection or a 5xx is retried at once, and a request that keeps failing moves on to the
// fallback endpoint without delay. Use ExponentialBackoff to spread retries out.
package countbased

import (
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
)

// Name is the registered name of the policy (matched case-insensitively).
const Name = "CountBased"

// Defaults and bounds of the config.
const (
	DefaultTimes       = 3
	MaxTimes           = 100
	DefaultMaxInterval = time.Second
)

func init() {
	retry.Register(Name, New)
}

type policy struct {
	attempts    int
	maxInterval time.Duration
}

// New builds the policy from its config; errors name the offending key.
func New(config map[string]any) (retry.Policy, error) {
	if err := retry.CheckKeys(config, "times", "maxInterval"); err != nil {
		return nil, err
	}
	times, err := retry.IntParam(config, "times", DefaultTimes, MaxTimes)
	if err != nil {
		return nil, err
	}
	maxInterval, err := retry.DurationParam(config, "maxInterval", DefaultMaxInterval)
	if err != nil {
		return nil, err
	}
	return policy{attempts: times + 1, maxInterval: maxInterval}, nil
}

func (policy) Name() string                 { return Name }
func (p policy) Attempts() int              { return p.attempts }
func (policy) Backoff(int) time.Duration    { return 0 }
func (p policy) MaxInterval() time.Duration { return p.maxInterval }
