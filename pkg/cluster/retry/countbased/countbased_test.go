package countbased

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name        string
		config      map[string]any
		attempts    int
		maxInterval time.Duration
		wantErr     string
	}{
		{"nil config takes defaults", nil, DefaultTimes + 1, DefaultMaxInterval, ""},
		{"empty config takes defaults", map[string]any{}, DefaultTimes + 1, DefaultMaxInterval, ""},
		{"yaml int", map[string]any{"times": 2}, 3, DefaultMaxInterval, ""},
		{"json float", map[string]any{"times": 2.0}, 3, DefaultMaxInterval, ""},
		{"string", map[string]any{"times": "2"}, 3, DefaultMaxInterval, ""},
		{"zero retries", map[string]any{"times": 0}, 1, DefaultMaxInterval, ""},
		{"max", map[string]any{"times": MaxTimes}, MaxTimes + 1, DefaultMaxInterval, ""},
		{"maxInterval duration", map[string]any{"times": 1, "maxInterval": "3s"}, 2, 3 * time.Second, ""},
		{"maxInterval ms", map[string]any{"maxInterval": 500}, DefaultTimes + 1, 500 * time.Millisecond, ""},
		{"maxInterval zero ignores Retry-After", map[string]any{"maxInterval": "0s"}, DefaultTimes + 1, 0, ""},
		{"negative", map[string]any{"times": -1}, 0, 0, `config key "times": must not be negative`},
		{"fraction", map[string]any{"times": 1.5}, 0, 0, `config key "times": must be a whole number`},
		{"fraction string", map[string]any{"times": "1.5"}, 0, 0, `config key "times": must be a whole number`},
		{"too many", map[string]any{"times": MaxTimes + 1}, 0, 0, `config key "times": must be at most 100`},
		{"not a number", map[string]any{"times": "twice"}, 0, 0, `config key "times": must be a number`},
		{"bool", map[string]any{"times": true}, 0, 0, `config key "times": must be a number`},
		{"bad maxInterval", map[string]any{"maxInterval": "long"}, 0, 0, `config key "maxInterval": invalid duration`},
		{"unknown key", map[string]any{"times": 2, "interval": "1s"}, 0, 0, `config key "interval": unknown key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.config)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Name, p.Name())
			assert.Equal(t, tc.attempts, p.Attempts())
			assert.Equal(t, tc.maxInterval, p.MaxInterval())
			for n := 1; n <= p.Attempts(); n++ {
				assert.Zero(t, p.Backoff(n), "CountBased never waits on its own")
			}
		})
	}
}
