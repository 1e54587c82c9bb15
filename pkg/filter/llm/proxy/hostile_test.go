package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/test/llmstub"
)

// Bodies are read as they arrive: connections that declare a large body and send one byte cost
// what they sent, not what they declared.
func TestDeclaredBodiesCostOnlyWhatArrived(t *testing.T) {
	const conns, declared = 100, 10_000_000
	stub := llmstub.Start(t)
	g := startGateway(t, gatewaySpec{clusters: clusterYAML("chat", "RoundRobin", endpoint("e", stub.Addr(), ""))})
	addr := strings.TrimPrefix(g.URL, "http://")

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	open := make([]net.Conn, 0, conns)
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		open = append(open, c)
		_, err = fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\n\r\n{", declared)
		require.NoError(t, err)
	}
	eventually(t, 10*time.Second, func() bool { return g.InFlight() == conns }, "every connection is being served")
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %.2f MiB for %d connections each declaring %d bytes and sending 1",
		float64(growth)/(1<<20), conns, declared)
	assert.Less(t, growth, int64(20<<20))
	assert.Zero(t, stub.Count(), "nothing is forwarded before the body is complete")
}

// A provider's response headers are bounded: an endless header fails the attempt instead of
// growing the gateway's memory.
func TestOversizedResponseHeadersFailTheAttempt(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Padding", strings.Repeat("p", 512<<10))
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(upstream.Close)
	g := startGateway(t, gatewaySpec{clusters: clusterYAML("chat", "RoundRobin", endpoint("big", upstream.Listener.Addr().String(), ""))})
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	assert.Equal(t, http.StatusBadGateway, r.status, r.body)
	assert.Contains(t, r.body, "big:")
}
