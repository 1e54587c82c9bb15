package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
)

func seriesOf(t *testing.T, m *Metrics, labels metricstest.Labels) int {
	return metricstest.Gather(t, m.Registry).Count(labels)
}

func record(m *Metrics, cluster, endpoint string) {
	m.Request(cluster, endpoint, 200)
	m.UpstreamAttempt(cluster, endpoint, "2xx", time.Millisecond)
	m.FirstByte(cluster, endpoint, time.Millisecond)
	m.Retry(cluster, endpoint)
	m.Fallback(cluster, endpoint)
	m.Cooldown(cluster, endpoint)
	m.StreamCut(cluster, endpoint, "stream_idle")
	m.Tokens(cluster, "stub-model", 1, 2, 3)
	m.SetClusterEndpoints(cluster, map[string]int{"static": 1})
}

func TestForgetEndpointDeletesItsSeriesOnly(t *testing.T) {
	m := New()
	record(m, "chat", "a")
	record(m, "chat", "b")
	require.Positive(t, seriesOf(t, m, metricstest.Labels{"endpoint": "a"}))

	m.ForgetEndpoint("chat", "a")
	assert.Zero(t, seriesOf(t, m, metricstest.Labels{"endpoint": "a"}))
	assert.Equal(t, 8, seriesOf(t, m, metricstest.Labels{"cluster": "chat", "endpoint": "b"}), "the other endpoint keeps its series")
}

func TestForgetClusterDeletesEverySeriesOfIt(t *testing.T) {
	m := New()
	record(m, "gone", "a")
	record(m, "kept", "a")
	m.ForgetCluster("gone")
	assert.Zero(t, seriesOf(t, m, metricstest.Labels{"cluster": "gone"}))
	assert.Positive(t, seriesOf(t, m, metricstest.Labels{"cluster": "kept"}))

	m.SetClusterEndpoints("gone", map[string]int{"llm-registry": 1})
	assert.Equal(t, 1, seriesOf(t, m, metricstest.Labels{"cluster": "gone"}),
		"a cluster that comes back starts afresh, without a zero for its old sources")
}
