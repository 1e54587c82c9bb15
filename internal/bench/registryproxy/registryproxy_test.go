package registryproxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNacos answers list calls with the query it saw, gzip-compressed when asked.
func fakeNacos(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := []byte(`{"query":"` + r.URL.RawQuery + `"}`)
		if r.URL.Query().Get("gzip") == "1" {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = b.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestProxyCountsForwardsAndObserves(t *testing.T) {
	var mu sync.Mutex
	var seen []Response
	p, err := Start(fakeNacos(t), func(r Response) {
		mu.Lock()
		defer mu.Unlock()
		r.Body = append([]byte(nil), r.Body...)
		seen = append(seen, r)
	})
	require.NoError(t, err)
	defer p.Close()
	base := "http://" + p.Addr()

	get := func(path string, q url.Values) string {
		resp, err := http.Get(base + path + "?" + q.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := get(PathInstanceList, url.Values{"serviceName": {"g@@svc"}, "clientIP": {"10.1.2.3"}, "udpPort": {"55000"}})
	assert.Contains(t, body, "clientIP=127.0.0.1", "the client's address is rewritten to loopback")
	assert.NotContains(t, body, "10.1.2.3")
	get(PathServiceList, url.Values{"groupName": {"g"}, "gzip": {"1"}})
	get("/nacos/v1/ns/other", nil)
	req, _ := http.NewRequest(http.MethodDelete, base+PathInstanceList, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, int64(4), p.Total())
	counts := p.Counts()
	assert.Equal(t, int64(1), counts["GET "+PathInstanceList])
	assert.Equal(t, int64(1), counts["DELETE "+PathInstanceList])
	assert.Equal(t, int64(1), counts["GET /nacos/v1/ns/other"])

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "only successful list responses are observed")
	assert.Equal(t, "g@@svc", seen[0].Service)
	assert.Equal(t, PathInstanceList, seen[0].Path)
	assert.False(t, seen[0].At.IsZero())
	assert.Equal(t, PathServiceList, seen[1].Path)
	assert.True(t, strings.HasPrefix(string(seen[1].Body), `{"query":`), "gzip bodies are decoded for the observer")
}

func TestFormatCountsLargestFirst(t *testing.T) {
	assert.Equal(t, "GET /b: 5, GET /a: 2, PUT /c: 2", FormatCounts(map[string]int64{"GET /a": 2, "GET /b": 5, "PUT /c": 2}))
	assert.Equal(t, "", FormatCounts(nil))
}

func TestStartRejectsABadUpstream(t *testing.T) {
	_, err := Start("registry-without-port", nil)
	assert.Error(t, err)
}

func TestProxyRecordsRegistryLatency(t *testing.T) {
	p, err := Start(fakeNacos(t), nil)
	require.NoError(t, err)
	defer p.Close()
	for range 3 {
		resp, err := http.Get("http://" + p.Addr() + PathServiceList)
		require.NoError(t, err)
		resp.Body.Close()
	}
	lat := p.Latencies()
	require.Contains(t, lat, "GET "+PathServiceList)
	assert.Equal(t, 3, lat["GET "+PathServiceList].Count())
}
