package retry

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Helpers for policy factories. A policy config reaches a factory from pixiu.yaml (YAML ints and
// floats), from registry metadata (JSON numbers, i.e. float64) or as strings typed by hand, so a
// number may be any of 2, 2.0, "2". Every error names the config key.

// CheckKeys returns an error naming the first config key (in sorted order) that is not in known.
func CheckKeys(config map[string]any, known ...string) error {
	var unknown []string
	for k := range config {
		found := false
		for _, want := range known {
			if k == want {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("config key %q: unknown key (known: %s)", unknown[0], strings.Join(known, ", "))
}

// IntParam reads a whole number in [0, max] from config[key]; def when the key is absent.
// Fractions, negatives, values above max and non-numbers are errors.
func IntParam(config map[string]any, key string, def, max int) (int, error) {
	v := config[key]
	f, err := FloatParam(config, key, float64(def))
	if err != nil {
		return 0, err
	}
	switch {
	case f != math.Trunc(f):
		return 0, fmt.Errorf("config key %q: must be a whole number, got %v", key, v)
	case f < 0:
		return 0, fmt.Errorf("config key %q: must not be negative, got %v", key, v)
	case f > float64(max):
		return 0, fmt.Errorf("config key %q: must be at most %d, got %v", key, max, v)
	}
	return int(f), nil
}

// FloatParam reads a finite number from config[key]; def when the key is absent.
func FloatParam(config map[string]any, key string, def float64) (float64, error) {
	v, ok := config[key]
	if !ok || v == nil {
		return def, nil
	}
	f, err := number(v)
	if err != nil {
		return 0, fmt.Errorf("config key %q: %w", key, err)
	}
	return f, nil
}

// DurationParam reads a non-negative duration from config[key]; def when the key is absent.
// A string is a Go duration ("200ms", "1.5s"); a number, or a string holding only a number, is
// milliseconds (registry metadata and health_check_interval count in milliseconds too).
func DurationParam(config map[string]any, key string, def time.Duration) (time.Duration, error) {
	v, ok := config[key]
	if !ok || v == nil {
		return def, nil
	}
	var d time.Duration
	switch x := v.(type) {
	case time.Duration:
		d = x
	case string:
		s := strings.TrimSpace(x)
		parsed, err := time.ParseDuration(s)
		if err != nil {
			ms, nerr := strconv.ParseFloat(s, 64)
			if nerr != nil || math.IsNaN(ms) || math.IsInf(ms, 0) {
				return 0, fmt.Errorf("config key %q: invalid duration %q (use a Go duration such as \"200ms\", or a number of milliseconds)", key, x)
			}
			parsed, err = millis(ms)
			if err != nil {
				return 0, fmt.Errorf("config key %q: %w", key, err)
			}
		}
		d = parsed
	default:
		ms, err := number(v)
		if err != nil {
			return 0, fmt.Errorf("config key %q: %w (want a Go duration such as \"200ms\", or a number of milliseconds)", key, err)
		}
		if d, err = millis(ms); err != nil {
			return 0, fmt.Errorf("config key %q: %w", key, err)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("config key %q: must not be negative, got %v", key, v)
	}
	return d, nil
}

func millis(ms float64) (time.Duration, error) {
	ns := ms * float64(time.Millisecond)
	if ns > math.MaxInt64 || ns < math.MinInt64 {
		return 0, fmt.Errorf("duration of %v ms is out of range", ms)
	}
	return time.Duration(ns), nil
}

// number converts the numeric forms a config value arrives in to a finite float64.
func number(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float32:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		parsed, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a number, got %q", string(x))
		}
		f = parsed
	case string:
		parsed, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a number, got %q", x)
		}
		f = parsed
	default:
		return 0, fmt.Errorf("must be a number, got %v (%T)", v, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("must be a finite number, got %v", v)
	}
	return f, nil
}
