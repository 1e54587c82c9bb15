package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// observedConfig is routingConfig with metrics and the admin API on. pixiu.yaml cannot ask for
// port 0 for metrics (0 means the default, 2222), so tests set it on the loaded document.
const observedConfig = routingConfig + `
metric: {enable: true, prometheus_port: 2222}
admin: {enable: true, address: "127.0.0.1:0"}
`

func loadObserved(t *testing.T, yaml string) *config.Document {
	t.Helper()
	doc, err := config.Load("observed.yaml", []byte(yaml))
	require.NoError(t, err)
	doc.Bootstrap.Metric.PrometheusPort = 0
	return doc
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestObservabilityServersRunWithTheGateway(t *testing.T) {
	g, err := server.New(loadObserved(t, observedConfig), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	assert.Nil(t, g.MetricsAddr(), "not bound before Start")
	assert.Nil(t, g.AdminAddr())
	require.NoError(t, g.Start())
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })

	for name, addr := range map[string]net.Addr{"metrics": g.MetricsAddr(), "admin": g.AdminAddr()} {
		require.NotNil(t, addr, name)
		assert.True(t, addr.(*net.TCPAddr).IP.Equal(net.IPv4(127, 0, 0, 1)), "%s bound %s", name, addr)
	}

	s := metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
	for _, c := range []string{"models", "tenant", "chat"} {
		assert.Equal(t, 1.0, s.Value(t, "pixiu_cluster_endpoints", metricstest.Labels{"cluster": c, "source": "static"}), c)
	}

	admin := "http://" + g.AdminAddr().String()
	status, body := httpGet(t, admin+"/readyz")
	require.Equal(t, http.StatusOK, status, body)
	var ready struct {
		Ready     bool              `json:"ready"`
		Listeners map[string]string `json:"listeners"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	assert.True(t, ready.Ready)
	assert.Equal(t, g.ListenerAddrs()["main"].String(), ready.Listeners["main"])

	status, body = httpGet(t, admin+"/admin/clusters/chat")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"id": "c"`)

	metricsURL := "http://" + g.MetricsAddr().String() + "/metrics"
	require.NoError(t, g.Shutdown(context.Background()))
	for _, url := range []string{metricsURL, admin + "/healthz"} {
		_, err := http.Get(url)
		assert.Error(t, err, "%s is closed after shutdown", url)
	}
}

func TestObservabilityIsOffByDefault(t *testing.T) {
	g, _ := startGateway(t, routingConfig)
	assert.Nil(t, g.MetricsAddr())
	assert.Nil(t, g.AdminAddr())
}

func TestMetricsPortInUseFailsStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port

	yaml := strings.Replace(observedConfig, "prometheus_port: 2222", fmt.Sprintf("prometheus_port: %d", port), 1)
	doc, err := config.Load("observed.yaml", []byte(yaml))
	require.NoError(t, err)
	g, err := server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	err = g.Start()
	require.Error(t, err)
	line := strings.Count(routingConfig, "\n") + 2
	assert.Contains(t, err.Error(), fmt.Sprintf("observed.yaml:%d", line))
	assert.Contains(t, err.Error(), "metric.prometheus_port")
	assert.Contains(t, err.Error(), "address already in use")
	assert.Empty(t, g.ListenerAddrs(), "no listener is left bound")
	assert.Nil(t, g.AdminAddr(), "the admin server did not start")
	assert.NoError(t, g.Shutdown(context.Background()))
}

func TestListenerFailureStopsObservabilityServers(t *testing.T) {
	_, base := startGateway(t, routingConfig)
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	doc := loadObserved(t, strings.Replace(observedConfig, "port: 0", "port: "+port, 1))
	g, err := server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Error(t, g.Start())
	addr := g.MetricsAddr()
	require.NotNil(t, addr, "metrics had bound before the listener failed")
	_, err = http.Get("http://" + addr.String() + "/metrics")
	assert.Error(t, err, "and was stopped again")
}

func TestBadAdminAddressIsAConfigError(t *testing.T) {
	doc, err := config.Load("observed.yaml", []byte(strings.Replace(observedConfig, `"127.0.0.1:0"`, "admin.example.com:80", 1)))
	require.NoError(t, err)
	_, err = server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	line := strings.Count(routingConfig, "\n") + 3
	assert.Contains(t, err.Error(), fmt.Sprintf("observed.yaml:%d", line))
	assert.Contains(t, err.Error(), "admin.address")
	assert.Contains(t, err.Error(), "not an IP address")
}

// leakyFilter logs secrets the way a careless plugin might, to show the gateway's logger redacts.
type leakyFilter struct{}

func (leakyFilter) Kind() string { return "test.leaky" }

func (leakyFilter) CreateFilterFactory(env filter.Env) (filter.HTTPFilterFactory, error) {
	return leakyFactory{env.Logger}, nil
}

type leakyFactory struct{ logger *slog.Logger }

func (leakyFactory) Config() any  { return &struct{}{} }
func (leakyFactory) Apply() error { return nil }
func (f leakyFactory) Handler(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := &model.Endpoint{ID: "e", Metadata: map[string]string{"llm-meta.api_key": leakyKey},
			LLMMeta: &model.LLMMeta{APIKey: leakyKey}}
		f.logger.Debug("forwarding with Authorization: Bearer "+leakyKey,
			"api_key", leakyKey, "endpoint", ep, "meta", ep.Metadata, "llm", *ep.LLMMeta,
			"registry", struct{ Address, Password string }{"127.0.0.1:8848", leakyKey},
			"error", fmt.Errorf("upstream rejected key %s", leakyKey))
		w.WriteHeader(http.StatusNoContent)
	})
}

func init() { filter.RegisterHTTPFilter(leakyFilter{}) }

const leakyKey = "sk-canary-leaky-plugin-6a1f"

func TestGatewayLoggerRedacts(t *testing.T) {
	doc, err := config.Load("leaky.yaml", []byte(strings.Replace(routingConfig, "name: test.echo", "name: test.leaky", 1)))
	require.NoError(t, err)
	var logs logcapture.Buffer
	g, err := server.New(doc, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	require.NoError(t, g.Start())
	defer g.Shutdown(context.Background())

	resp, err := http.Get("http://" + g.ListenerAddrs()["main"].String() + "/v1/models")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	out := logs.String()
	require.Contains(t, out, "forwarding with Authorization")
	assert.NotContains(t, out, leakyKey)
	assert.Contains(t, out, "127.0.0.1:8848", "what is not secret is still logged")
}
