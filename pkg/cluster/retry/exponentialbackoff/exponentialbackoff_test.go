package exponentialbackoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  map[string]any
		want    policy
		wantErr string
	}{
		{"defaults", nil, policy{attempts: 4, initial: 200 * time.Millisecond, max: 5 * time.Second, multiplier: 2}, ""},
		{"documented example", map[string]any{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2.0},
			policy{attempts: 4, initial: 200 * time.Millisecond, max: 5 * time.Second, multiplier: 2}, ""},
		{"pixiu.yaml example", map[string]any{"times": 3, "initialInterval": "200ms", "maxInterval": "8s", "multiplier": 2.5},
			policy{attempts: 4, initial: 200 * time.Millisecond, max: 8 * time.Second, multiplier: 2.5}, ""},
		{"registry metadata json", map[string]any{"times": 2.0, "initialInterval": 100.0, "maxInterval": "1000", "multiplier": "1.5"},
			policy{attempts: 3, initial: 100 * time.Millisecond, max: time.Second, multiplier: 1.5}, ""},
		{"multiplier 1 is constant backoff", map[string]any{"multiplier": 1},
			policy{attempts: 4, initial: 200 * time.Millisecond, max: 5 * time.Second, multiplier: 1}, ""},
		{"initial equals max", map[string]any{"initialInterval": "1s", "maxInterval": "1s"},
			policy{attempts: 4, initial: time.Second, max: time.Second, multiplier: 2}, ""},
		{"initial above default max raises the default", map[string]any{"initialInterval": "10s"},
			policy{attempts: 4, initial: 10 * time.Second, max: 10 * time.Second, multiplier: 2}, ""},
		{"zero retries", map[string]any{"times": "0"},
			policy{attempts: 1, initial: 200 * time.Millisecond, max: 5 * time.Second, multiplier: 2}, ""},
		{"negative times", map[string]any{"times": -2}, policy{}, `config key "times": must not be negative`},
		{"fractional times", map[string]any{"times": 2.2}, policy{}, `config key "times": must be a whole number`},
		{"zero initial", map[string]any{"initialInterval": "0s"}, policy{}, `config key "initialInterval": must be greater than 0`},
		{"negative initial", map[string]any{"initialInterval": "-1s"}, policy{}, `config key "initialInterval": must not be negative`},
		{"bad initial", map[string]any{"initialInterval": "fast"}, policy{}, `config key "initialInterval": invalid duration "fast"`},
		{"max below initial", map[string]any{"initialInterval": "2s", "maxInterval": "1s"}, policy{}, `config key "maxInterval": 1s is less than initialInterval 2s`},
		{"multiplier below 1", map[string]any{"multiplier": 0.5}, policy{}, `config key "multiplier": must be at least 1`},
		{"multiplier not a number", map[string]any{"multiplier": "double"}, policy{}, `config key "multiplier": must be a number`},
		{"unknown key", map[string]any{"initial_interval": "1s"}, policy{}, `config key "initial_interval": unknown key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.config)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
			assert.Equal(t, Name, p.Name())
			assert.Equal(t, tc.want.attempts, p.Attempts())
			assert.Equal(t, tc.want.max, p.MaxInterval())
		})
	}
}

func TestCeilingGrowsAndCaps(t *testing.T) {
	p := policy{attempts: 10, initial: 100 * time.Millisecond, max: time.Second, multiplier: 2}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, 100 * time.Millisecond}, // n < 1 is treated as the first retry
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{6, time.Second},
		{10_000, time.Second}, // multiplier^n overflows to +Inf: still capped
	} {
		assert.Equal(t, tc.want, p.ceiling(tc.n), "n=%d", tc.n)
	}
}

// The jittered wait stays within [ceiling/2, ceiling] and actually varies.
func TestBackoffJitterBounds(t *testing.T) {
	p := policy{attempts: 6, initial: 10 * time.Millisecond, max: 70 * time.Millisecond, multiplier: 3}
	for n := 1; n <= 6; n++ {
		c := p.ceiling(n)
		seen := map[time.Duration]bool{}
		for i := 0; i < 2000; i++ {
			d := p.Backoff(n)
			if d < c/2 || d > c {
				t.Fatalf("n=%d: backoff %v outside [%v, %v]", n, d, c/2, c)
			}
			seen[d] = true
		}
		assert.Greater(t, len(seen), 100, "n=%d: backoff is jittered", n)
	}
	tiny := policy{attempts: 2, initial: time.Nanosecond, max: time.Nanosecond, multiplier: 1}
	for i := 0; i < 100; i++ {
		if d := tiny.Backoff(1); d < 0 || d > time.Nanosecond {
			t.Fatalf("backoff %v outside [0, 1ns]", d)
		}
	}
}
