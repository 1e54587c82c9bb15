package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryableStatus(t *testing.T) {
	for code := 100; code < 600; code++ {
		want := code == 429 || code == 500 || code == 502 || code == 503 || code == 504
		assert.Equal(t, want, retryableStatus(code), "status %d", code)
	}
}

func TestRetryAfter(t *testing.T) {
	future := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		status int
		value  string
		min    time.Duration
		max    time.Duration
	}{
		{"seconds on 429", 429, "2", 2 * time.Second, 2 * time.Second},
		{"seconds on 503", 503, " 1 ", time.Second, time.Second},
		{"http date", 429, future, time.Second, 3 * time.Second},
		{"date in the past", 503, past, 0, 0},
		{"zero", 429, "0", 0, 0},
		{"negative", 429, "-5", 0, 0},
		{"garbage", 429, "soon", 0, 0},
		{"absent", 429, "", 0, 0},
		{"huge is bounded", 429, "99999999999", 24 * time.Hour, 24 * time.Hour},
		{"ignored on 500", 500, "2", 0, 0},
		{"ignored on 502", 502, "2", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.value != "" {
				resp.Header.Set("Retry-After", tc.value)
			}
			got := retryAfter(resp)
			assert.GreaterOrEqual(t, got, tc.min)
			assert.LessOrEqual(t, got, tc.max)
		})
	}
}

func TestSleepEndsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool, 1)
	go func() { done <- sleep(ctx, time.Hour) }()
	cancel()
	select {
	case ok := <-done:
		assert.False(t, ok)
	case <-time.After(5 * time.Second):
		t.Fatal("sleep ignored the cancelled context")
	}
	assert.False(t, sleep(ctx, 0), "no wait on a cancelled context either")
	assert.True(t, sleep(context.Background(), time.Millisecond))
}

func TestHasMediaType(t *testing.T) {
	assert.True(t, hasMediaType("text/event-stream", "text/event-stream"))
	assert.True(t, hasMediaType("Text/Event-Stream; charset=utf-8", "text/event-stream"))
	assert.True(t, hasMediaType("application/json;charset=utf-8", "application/json"))
	assert.False(t, hasMediaType("application/jsonl", "application/json"))
	assert.False(t, hasMediaType("text/plain", "text/event-stream"))
	assert.False(t, hasMediaType("", "application/json"))
}
