package proxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestForwardHeaderDropsHopByHop(t *testing.T) {
	src := http.Header{
		"Connection":          {"keep-alive, X-Session-Hop", "Upgrade"},
		"X-Session-Hop":       {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
		"Proxy-Connection":    {"keep-alive"},
		"Te":                  {"trailers"},
		"Trailer":             {"X-Checksum"},
		"Transfer-Encoding":   {"chunked"},
		"Upgrade":             {"websocket"},
		"Content-Type":        {"application/json"},
		"Accept":              {"text/event-stream", "application/json"},
		"Authorization":       {"Bearer client"},
		"X-Request-Id":        {"r1"},
	}
	got := forwardHeader(src, 1)
	assert.Equal(t, http.Header{
		"Content-Type":  {"application/json"},
		"Accept":        {"text/event-stream", "application/json"},
		"Authorization": {"Bearer client"},
		"X-Request-Id":  {"r1"},
	}, got)

	// The copy shares nothing with the client's map.
	got["Accept"][0] = "changed"
	got.Set("X-Request-Id", "r2")
	assert.Equal(t, "text/event-stream", src["Accept"][0])
	assert.Equal(t, "r1", src.Get("X-Request-Id"))
	assert.Equal(t, "1", src.Get("X-Session-Hop"))
}

func TestCopyResponseHeader(t *testing.T) {
	dst := http.Header{}
	copyResponseHeader(dst, http.Header{
		"Connection":        {"X-Upstream-Hop"},
		"X-Upstream-Hop":    {"1"},
		"Keep-Alive":        {"timeout=5"},
		"Transfer-Encoding": {"chunked"},
		"Content-Type":      {"text/event-stream"},
		"X-Ratelimit-Limit": {"100"},
	})
	assert.Equal(t, http.Header{
		"Content-Type":      {"text/event-stream"},
		"X-Ratelimit-Limit": {"100"},
	}, dst)
}
