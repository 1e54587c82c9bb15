package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
)

type L = metricstest.Labels

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts a metrics server for m on a free loopback port and returns its /metrics URL.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	s := metrics.NewServer(m, model.Metric{Enable: true, PrometheusPort: 0}, quietLogger())
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return "http://" + s.Addr().String() + "/metrics"
}

func TestEveryMethodMovesItsSeries(t *testing.T) {
	m := metrics.New()
	url := serve(t, m)

	m.Request("chat", "a", 200)
	m.Request("chat", "a", 201)
	m.Request("chat", "b", 503)
	m.Request("chat", "", 0)
	m.UpstreamAttempt("chat", "a", "2xx", 120*time.Millisecond)
	m.UpstreamAttempt("chat", "a", "5xx", 30*time.Millisecond)
	m.UpstreamAttempt("chat", "a", "429", time.Millisecond)
	m.UpstreamAttempt("chat", "a", "weird", time.Millisecond)
	m.FirstByte("chat", "a", 50*time.Millisecond)
	m.Retry("chat", "a")
	m.Retry("chat", "a")
	m.Fallback("chat", "a")
	m.Cooldown("chat", "a")
	m.Tokens("chat", "gpt-x", 10, 5, 15)
	m.Tokens("chat", "gpt-x", 1, 0, 1)
	m.Tokens("chat", "", 2, 2, 4)
	m.SetClusterEndpoints("chat", map[string]int{"static": 2})
	m.DiscoveryEvent("nacos", "add")
	m.DiscoveryEvent("nacos", "add")
	m.DiscoveryEvent("nacos", "delete")
	m.SetRejected("nacos", 3)
	m.RegistryError("nacos")
	m.RegistryError("nacos")
	synced := time.Unix(1_700_000_000, 500_000_000)
	m.RegistrySynced("nacos", synced)

	s := metricstest.Get(t, url)
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_requests_total", L{"cluster": "chat", "endpoint": "a", "code": "2xx"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_requests_total", L{"cluster": "chat", "endpoint": "b", "code": "5xx"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_requests_total", L{"cluster": "chat", "endpoint": "", "code": "other"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_attempts_total", L{"endpoint": "a", "outcome": "2xx"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_attempts_total", L{"endpoint": "a", "outcome": "5xx"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_attempts_total", L{"endpoint": "a", "outcome": "4xx"}), "a bare code counts as its class")
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_attempts_total", L{"endpoint": "a", "outcome": "other"}))
	assert.Equal(t, uint64(4), s.HistogramCount(t, "pixiu_llm_upstream_duration_seconds", L{"endpoint": "a"}))
	assert.InDelta(t, 0.152, s.HistogramSum(t, "pixiu_llm_upstream_duration_seconds", L{"endpoint": "a"}), 1e-9)
	assert.Equal(t, uint64(1), s.HistogramCount(t, "pixiu_llm_time_to_first_byte_seconds", L{"endpoint": "a"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_retries_total", L{"endpoint": "a"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_fallbacks_total", L{"endpoint": "a"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_cooldowns_total", L{"endpoint": "a"}))
	assert.Equal(t, 11.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": "gpt-x", "kind": "prompt"}))
	assert.Equal(t, 5.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": "gpt-x", "kind": "completion"}))
	assert.Equal(t, 16.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": "gpt-x", "kind": "total"}))
	assert.Equal(t, 4.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": metrics.UnknownModel, "kind": "total"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_cluster_endpoints", L{"cluster": "chat", "source": "static"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_registry_discovery_events_total", L{"registry": "nacos", "type": "add"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_registry_discovery_events_total", L{"registry": "nacos", "type": "delete"}))
	assert.Equal(t, 3.0, s.Value(t, "pixiu_registry_rejected_instances", L{"registry": "nacos"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_registry_errors_total", L{"registry": "nacos"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_registry_up", L{"registry": "nacos"}), "a sync after errors marks the registry up")
	assert.Equal(t, 1_700_000_000.5, s.Value(t, "pixiu_registry_last_sync_timestamp_seconds", L{"registry": "nacos"}))
	assert.True(t, s.Has("go_goroutines"), "Go runtime metrics are exported")

	m.RegistryError("nacos")
	assert.Equal(t, 0.0, metricstest.Get(t, url).Value(t, "pixiu_registry_up", L{"registry": "nacos"}))
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	assert.NotPanics(t, func() {
		m.Request("c", "e", 200)
		m.UpstreamAttempt("c", "e", "2xx", time.Second)
		m.FirstByte("c", "e", time.Second)
		m.Retry("c", "e")
		m.Fallback("c", "e")
		m.Cooldown("c", "e")
		m.Tokens("c", "m", 1, 1, 2)
		m.SetClusterEndpoints("c", map[string]int{"static": 1})
		m.DiscoveryEvent("r", "add")
		m.SetRejected("r", 1)
		m.RegistryError("r")
		m.RegistrySynced("r", time.Now())
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestClusterEndpointsDropToZeroWhenASourceLeaves(t *testing.T) {
	m := metrics.New()
	url := serve(t, m)
	m.SetClusterEndpoints("chat", map[string]int{"static": 1, "llm-registry": 2})
	s := metricstest.Get(t, url)
	assert.Equal(t, 2.0, s.Value(t, "pixiu_cluster_endpoints", L{"cluster": "chat", "source": "llm-registry"}))

	m.SetClusterEndpoints("chat", map[string]int{"static": 1})
	s = metricstest.Get(t, url)
	assert.Equal(t, 0.0, s.Value(t, "pixiu_cluster_endpoints", L{"cluster": "chat", "source": "llm-registry"}))
	assert.True(t, s.Has("pixiu_cluster_endpoints"))
	assert.Contains(t, s.Series("pixiu_cluster_endpoints"), `{cluster="chat",source="llm-registry"}`, "zeroed, not dropped")
	assert.Equal(t, 1.0, s.Value(t, "pixiu_cluster_endpoints", L{"cluster": "chat", "source": "static"}))
}

func TestModelLabelIsBounded(t *testing.T) {
	m := metrics.New()
	url := serve(t, m)
	for i := range 150 {
		m.Tokens("chat", "model-"+strconv.Itoa(i), 1, 1, 2)
	}
	m.Tokens("chat", "model-0", 1, 1, 2) // known names keep counting under their own name
	s := metricstest.Get(t, url)
	assert.Len(t, s.Series("pixiu_llm_tokens_total"), 101*3, "100 models plus other, three kinds each")
	assert.Equal(t, 50.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": metrics.OtherModel, "kind": "prompt"}))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_tokens_total", L{"model": "model-0", "kind": "prompt"}))
}

func TestServerBindsLoopbackByDefault(t *testing.T) {
	// Port 0 here, not the default 2222, which another process may hold: only the host is under test.
	s := metrics.NewServer(metrics.New(), model.Metric{Enable: true, PrometheusPort: 0, Address: ""}, quietLogger())
	require.NoError(t, s.Start())
	defer s.Shutdown(context.Background())
	addr := s.Addr().(*net.TCPAddr)
	assert.True(t, addr.IP.Equal(net.IPv4(127, 0, 0, 1)), "bound %s", addr)

	resp, err := http.Get("http://" + addr.String() + "/nothing")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestServerPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port

	s := metrics.NewServer(metrics.New(), model.Metric{Enable: true, PrometheusPort: port}, quietLogger())
	err = s.Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metric.prometheus_port")
	assert.Contains(t, err.Error(), fmt.Sprintf("127.0.0.1:%d", port))
	assert.Contains(t, err.Error(), "address already in use")
	assert.Nil(t, s.Addr())
	assert.NoError(t, s.Shutdown(context.Background()), "shutdown after a failed start is fine")
}

func TestServerShutdown(t *testing.T) {
	s := metrics.NewServer(metrics.New(), model.Metric{Enable: true}, quietLogger())
	assert.NoError(t, s.Shutdown(context.Background()), "shutdown before start is fine")

	s = metrics.NewServer(metrics.New(), model.Metric{Enable: true, PrometheusPort: 0}, quietLogger())
	require.NoError(t, s.Start())
	require.Error(t, s.Start(), "a second start is refused")
	url := "http://" + s.Addr().String() + "/metrics"
	metricstest.Get(t, url)
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()), "idempotent")
	_, err := http.Get(url)
	assert.Error(t, err, "nothing listens after shutdown")
}

func TestConcurrentUseKeepsCountsAndBounds(t *testing.T) {
	m := metrics.New()
	url := serve(t, m)
	const workers, perWorker = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				m.Tokens("chat", "model-"+strconv.Itoa((w*perWorker+i)%300), 1, 0, 0)
				m.Request("chat", "a", 200)
				m.SetClusterEndpoints("chat", map[string]int{"static": 1, "src-" + strconv.Itoa(w): i % 3})
			}
		}()
	}
	wg.Wait()
	s := metricstest.Get(t, url)
	assert.Equal(t, float64(workers*perWorker), s.Sum("pixiu_llm_tokens_total", L{"kind": "prompt"}), "no token lost")
	assert.Len(t, s.Series("pixiu_llm_tokens_total"), 101, "100 models plus other")
	assert.Equal(t, float64(workers*perWorker), s.Value(t, "pixiu_llm_requests_total", L{"endpoint": "a"}))
}
