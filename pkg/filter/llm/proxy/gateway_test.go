package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// testGateway is a whole gateway built from pixiu.yaml text, listening on a free loopback port.
type testGateway struct {
	*server.Gateway
	URL  string
	logs *logcapture.Buffer
}

type gatewaySpec struct {
	// filter is the flow-style config of dgp.filter.llm.proxy, e.g. "{timeout: 1s, scheme: http}".
	filter string
	// filters, when set, is the whole http_filters list instead of the proxy with filter.
	filters []gatewaytest.Filter
	// listener is the flow-style listener config, e.g. "{write_timeout: 300ms}".
	listener string
	// cluster is the one static cluster, built with staticCluster and endpoint.
	cluster gatewaytest.Cluster
}

// startGateway starts a gateway whose one route sends every path to cluster chat.
func startGateway(t testing.TB, spec gatewaySpec) *testGateway {
	t.Helper()
	if spec.filter == "" {
		spec.filter = "{timeout: 5s, scheme: http}"
	}
	if spec.filters == nil {
		spec.filters = []gatewaytest.Filter{gatewaytest.ProxyFilter(spec.filter)}
	}
	g := gatewaytest.Start(t, gatewaytest.Config{Prefix: "/", HTTPFilters: spec.filters, Listener: spec.listener,
		Clusters: []gatewaytest.Cluster{spec.cluster}, Shutdown: shutdownConfig}.YAML())
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs}
}

// shutdownConfig keeps the end of each test short.
const shutdownConfig = "{timeout: 5s, step_timeout: 1s}"

// staticCluster is one static cluster; endpoints come from endpoint or addressEndpoint.
func staticCluster(name, lb string, endpoints ...string) gatewaytest.Cluster {
	return gatewaytest.Cluster{Name: name, LbPolicy: lb, Endpoints: endpoints}
}

// endpoint renders an endpoint with a domain; llmMeta is flow-style yaml or "" for none.
func endpoint(id, domain, llmMeta string) string {
	s := fmt.Sprintf("        - id: %s\n          socket_address: {domains: [%q]}\n", id, domain)
	if llmMeta != "" {
		s += "          llm_meta: " + llmMeta + "\n"
	}
	return s
}

// addressEndpoint renders an endpoint with address and port.
func addressEndpoint(id, hostPort, llmMeta string) string {
	host, port, _ := net.SplitHostPort(hostPort)
	s := fmt.Sprintf("        - id: %s\n          socket_address: {address: %s, port: %s}\n", id, host, port)
	if llmMeta != "" {
		s += "          llm_meta: " + llmMeta + "\n"
	}
	return s
}

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
