package retry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/exponentialbackoff"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
)

// Policy names are case-insensitive on every path.
func TestNewNamesAreCaseInsensitive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		config   map[string]any
		want     string
		attempts int
	}{
		{"CountBased", map[string]any{"times": 2}, "CountBased", 3},
		{"countbased", map[string]any{"times": 2}, "CountBased", 3},
		{"COUNTBASED", map[string]any{"times": 2}, "CountBased", 3},
		{" countBased ", map[string]any{"times": 2}, "CountBased", 3},
		{"ExponentialBackoff", map[string]any{"times": 3}, "ExponentialBackoff", 4},
		{"exponentialbackoff", nil, "ExponentialBackoff", 4},
		{"EXPONENTIALBACKOFF", nil, "ExponentialBackoff", 4},
		{"noretry", nil, "NoRetry", 1},
		{"", nil, "NoRetry", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := retry.New(tc.name, tc.config)
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.Name())
			assert.Equal(t, tc.attempts, p.Attempts())
		})
	}
}

func TestNewUnknownPolicyListsKnownOnes(t *testing.T) {
	_, err := retry.New("Fibonacci", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"Fibonacci"`)
	assert.Contains(t, err.Error(), "CountBased")
	assert.Contains(t, err.Error(), "ExponentialBackoff")
	assert.Contains(t, err.Error(), "NoRetry")
}

func TestNewErrorNamesPolicyAndKey(t *testing.T) {
	_, err := retry.New("countbased", map[string]any{"times": -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CountBased")
	assert.Contains(t, err.Error(), `"times"`)
}

func TestIntParam(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   any
		want    int
		wantErr string
	}{
		{"absent uses default", nil, 7, ""},
		{"yaml int", 2, 2, ""},
		{"int64", int64(2), 2, ""},
		{"uint8", uint8(2), 2, ""},
		{"json float", 2.0, 2, ""},
		{"float32", float32(2), 2, ""},
		{"json.Number", json.Number("2"), 2, ""},
		{"string", "2", 2, ""},
		{"string with spaces", " 2 ", 2, ""},
		{"string float", "2.0", 2, ""},
		{"zero", 0, 0, ""},
		{"max", 10, 10, ""},
		{"negative", -1, 0, "must not be negative"},
		{"negative float", -1.0, 0, "must not be negative"},
		{"fraction", 2.5, 0, "whole number"},
		{"fraction string", "2.5", 0, "whole number"},
		{"above max", 11, 0, "at most 10"},
		{"huge", 1e300, 0, "at most 10"},
		{"word", "two", 0, "must be a number"},
		{"bool", true, 0, "must be a number"},
		{"list", []any{1}, 0, "must be a number"},
		{"NaN string", "NaN", 0, "finite"},
		{"Inf", "+Inf", 0, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := map[string]any{}
			if tc.value != nil {
				config["times"] = tc.value
			}
			got, err := retry.IntParam(config, "times", 7, 10)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `config key "times"`)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDurationParam(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   any
		want    time.Duration
		wantErr string
	}{
		{"absent uses default", nil, time.Second, ""},
		{"go duration", "200ms", 200 * time.Millisecond, ""},
		{"go duration compound", "1m30s", 90 * time.Second, ""},
		{"go duration spaces", " 2s ", 2 * time.Second, ""},
		{"int is milliseconds", 250, 250 * time.Millisecond, ""},
		{"float is milliseconds", 1.5, 1500 * time.Microsecond, ""},
		{"json float ms", 200.0, 200 * time.Millisecond, ""},
		{"numeric string is milliseconds", "300", 300 * time.Millisecond, ""},
		{"json.Number ms", json.Number("40"), 40 * time.Millisecond, ""},
		{"time.Duration", 3 * time.Second, 3 * time.Second, ""},
		{"zero", "0s", 0, ""},
		{"negative duration", "-1s", 0, "must not be negative"},
		{"negative ms", -5, 0, "must not be negative"},
		{"garbage", "soon", 0, `invalid duration "soon"`},
		{"bool", false, 0, "must be a number"},
		{"out of range", 1e300, 0, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := map[string]any{}
			if tc.value != nil {
				config["interval"] = tc.value
			}
			got, err := retry.DurationParam(config, "interval", time.Second)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `config key "interval"`)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFloatParam(t *testing.T) {
	got, err := retry.FloatParam(map[string]any{"m": "2.5"}, "m", 1)
	require.NoError(t, err)
	assert.Equal(t, 2.5, got)
	got, err = retry.FloatParam(nil, "m", 1.5)
	require.NoError(t, err)
	assert.Equal(t, 1.5, got)
	_, err = retry.FloatParam(map[string]any{"m": "fast"}, "m", 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config key "m"`)
}

func TestCheckKeys(t *testing.T) {
	require.NoError(t, retry.CheckKeys(nil, "times"))
	require.NoError(t, retry.CheckKeys(map[string]any{"times": 1}, "times", "maxInterval"))
	err := retry.CheckKeys(map[string]any{"times": 1, "tims": 2, "zzz": 3}, "times")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config key "tims"`)
	assert.Contains(t, err.Error(), "known: times")
}
