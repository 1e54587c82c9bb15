package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/model"
)

type oneCluster struct{ c *cluster.Cluster }

func (o oneCluster) Cluster(name string) *cluster.Cluster {
	if name == o.c.Name {
		return o.c
	}
	return nil
}

// With scheme https, upstreams that speak HTTP/2 get HTTP/2, and streams still pass event by
// event.
func TestHTTP2Upstream(t *testing.T) {
	protos := make(chan string, 2)
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
		if strings.Contains(r.URL.Path, "stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				_, _ = io.WriteString(w, "data: {\"usage\":null}\n\n")
				_ = http.NewResponseController(w).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"model":"m","usage":{"total_tokens":3}}`)
	}))
	upstream.EnableHTTP2 = true
	upstream.StartTLS()
	t.Cleanup(upstream.Close)

	member, err := cluster.NewMember(&model.Endpoint{ID: "h2", Address: model.SocketAddress{Domains: []string{upstream.Listener.Addr().String()}}},
		cluster.SourceStatic, new(cluster.Health))
	require.NoError(t, err)
	c := cluster.New("chat", "", []*cluster.Member{member}, nil)
	p, err := New(Config{Timeout: 5 * time.Second, Scheme: "https"}, filter.Env{Clusters: oneCluster{c}})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	roots := x509.NewCertPool()
	roots.AddCert(upstream.Certificate())
	p.transport.TLSClientConfig = &tls.Config{RootCAs: roots}

	for _, path := range []string{"/v1/chat/completions", "/v1/stream"} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		req = req.WithContext(filter.WithRoute(req.Context(), &model.RouteAction{Cluster: "chat"}))
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, "HTTP/2.0", <-protos)
		if path == "/v1/stream" {
			assert.Equal(t, strings.Repeat("data: {\"usage\":null}\n\n", 3), rec.Body.String())
			assert.True(t, rec.Flushed)
		}
	}
}
