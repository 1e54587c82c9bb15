package proxy_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// testGateway is a whole gateway listening on a free loopback port.
type testGateway struct {
	*server.Gateway
	URL  string
	logs *logcapture.Buffer
}

type gatewaySpec struct {
	// filter is the config of dgp.filter.llm.proxy; default {timeout: 5s, scheme: http}.
	filter map[string]any
	// filters, when set, is the whole http_filters list instead of the proxy with filter.
	filters []*model.HTTPFilter
	// listener holds the listener's timeouts and access log.
	listener model.HTTPListenerConfig
	// cluster is the one static cluster.
	cluster *model.ClusterConfig
}

// startGateway starts a gateway whose one route sends every path to cluster chat.
func startGateway(t testing.TB, spec gatewaySpec) *testGateway {
	t.Helper()
	if spec.filter == nil {
		spec.filter = map[string]any{"timeout": "5s", "scheme": "http"}
	}
	if spec.filters == nil {
		spec.filters = []*model.HTTPFilter{gatewayconfig.Proxy(spec.filter)}
	}
	g := gatewaytest.Start(t, gatewayconfig.OneRoute{Prefix: "/", Filters: spec.filters, Listener: spec.listener,
		Clusters: []*model.ClusterConfig{spec.cluster}, Shutdown: shutdownConfig}.YAML())
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs}
}

// shutdownConfig keeps the end of each test short.
var shutdownConfig = gatewayconfig.Shutdown(5*time.Second, time.Second)

// client gives each test its own connection pool.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

const chatBody = `{"model":"stub-model","messages":[{"role":"user","content":"say hi"}]}`

func streamBody(includeUsage bool) string {
	if includeUsage {
		return `{"model":"stub-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`
	}
	return `{"model":"stub-model","stream":true,"messages":[{"role":"user","content":"say hi"}]}`
}

type reply struct {
	status int
	header http.Header
	body   string
}

func post(t testing.TB, c *http.Client, url, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// scrape reads the gateway's metrics registry.
func (g *testGateway) scrape(t testing.TB) *metricstest.Scrape {
	t.Helper()
	return metricstest.Gather(t, g.Metrics.Registry)
}

// eventually polls cond every 10ms for up to d.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedAddr is a loopback address nobody listens on: connections are refused.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
