// Package noretry provides the NoRetry policy: one attempt, no waiting.
package noretry

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
)

// Name is the registered name of the policy.
const Name = "NoRetry"

func init() {
	retry.Register(Name, New)
}

type policy struct{}

// New returns the NoRetry policy. It takes no config; any key given is an error.
func New(config map[string]any) (retry.Policy, error) {
	if len(config) > 0 {
		// Name the first key in sorted order: the same config must always get the same error.
		return nil, fmt.Errorf("config key %q: NoRetry takes no config", slices.Min(slices.Collect(maps.Keys(config))))
	}
	return policy{}, nil
}

func (policy) Name() string               { return Name }
func (policy) Attempts() int              { return 1 }
func (policy) Backoff(int) time.Duration  { return 0 }
func (policy) MaxInterval() time.Duration { return 0 }
