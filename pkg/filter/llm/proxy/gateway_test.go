package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
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
	// listener is the flow-style listener config, e.g. "{write_timeout: 300ms}".
	listener string
	// clusters is the yaml of static_resources.clusters, built with clusterYAML and endpoint.
	clusters string
}

const gatewayYAML = `static_resources:
  listeners:
    - name: llm
      protocol_type: HTTP
      address: {socket_address: {address: 127.0.0.1, port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {prefix: /}
                    route: {cluster: chat}
              http_filters:%s
      config: %s
  clusters:
%s
  shutdown_config: {timeout: 5s, step_timeout: 1s}
`

func startGateway(t testing.TB, spec gatewaySpec) *testGateway {
	t.Helper()
	if spec.filter == "" {
		spec.filter = "{timeout: 5s, scheme: http}"
	}
	if spec.listener == "" {
		spec.listener = "{}"
	}
	g := gatewaytest.Start(t, fmt.Sprintf(gatewayYAML, proxyFilterYAML(spec.filter), spec.listener, spec.clusters))
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs}
}

// proxyFilterYAML is an http_filters list holding only the proxy, with flow-style config.
func proxyFilterYAML(config string) string {
	return "\n                - name: dgp.filter.llm.proxy\n                  config: " + config
}

// startGatewayWithFilters starts a gateway whose http_filters list is the given yaml lines.
func startGatewayWithFilters(t testing.TB, clusters, httpFilters string) *testGateway {
	t.Helper()
	g := gatewaytest.Start(t, fmt.Sprintf(gatewayYAML, httpFilters, "{}", clusters))
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs}
}

// clusterYAML renders one static cluster; endpoints come from endpoint.
func clusterYAML(name, lb string, endpoints ...string) string {
	return fmt.Sprintf("    - name: %s\n      lb_policy: %s\n      endpoints:\n%s", name, lb, strings.Join(endpoints, ""))
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

// metricValue sums the counters (or histogram sample counts, or sums with sum=true) of a metric
// family whose labels include all of want.
func metricValue(t testing.TB, g *testGateway, name string, want map[string]string, sum bool) float64 {
	t.Helper()
	families, err := g.Metrics.Registry.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Histogram != nil && sum:
				total += m.Histogram.GetSampleSum()
			case m.Histogram != nil:
				total += float64(m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			}
		}
	}
	return total
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
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
