package proxy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAttemptsForKeepsOneAttemptPerFallback(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		policy, left, waiting int
		want                  int
	}{
		{"policy within budget", 4, 10, 3, 4},
		{"policy larger than budget, no fallback", 101, 10, 0, 10},
		{"policy larger than budget, three fallbacks wait", 101, 10, 3, 7},
		{"second endpoint, two wait", 101, 3, 2, 1},
		{"last endpoint takes the rest", 101, 1, 0, 1},
		{"more fallbacks than budget still tries this one", 101, 2, 5, 1},
		{"budget used up", 4, 0, 0, 0},
		{"NoRetry", 1, 10, 3, 1},
	} {
		assert.Equal(t, tc.want, attemptsFor(tc.policy, tc.left, tc.waiting), tc.name)
	}
}

// Four endpoints with 101 attempts each and a budget of 10, walked the way a request walks them.
func TestBudgetAcrossAFallbackChain(t *testing.T) {
	left, spent := 10, []int{}
	for i := range 4 {
		n := attemptsFor(101, left, 3-i)
		spent = append(spent, n)
		left -= n
	}
	assert.Equal(t, []int{7, 1, 1, 1}, spent)
	assert.Zero(t, left)
}
