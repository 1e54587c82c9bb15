package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// endpointSeries counts the series of an endpoint (every endpoint: id "") of a cluster.
func endpointSeries(t *testing.T, m *metrics.Metrics, cluster, id string) int {
	labels := metricstest.Labels{"cluster": cluster}
	if id != "" {
		labels["endpoint"] = id
	}
	return metricstest.Gather(t, m.Registry).Count(labels)
}

func TestRemovedEndpointLosesItsMetricSeries(t *testing.T) {
	m := metrics.New()
	cm, err := NewClusterManager(nil, m)
	require.NoError(t, err)
	t.Cleanup(cm.Close)
	for _, id := range []string{"a", "b"} {
		require.NoError(t, cm.SetEndpoint("chat", endpoint(id, "10.0.0.1", "")))
		m.Request("chat", id, 200)
		m.UpstreamAttempt("chat", id, "2xx", time.Millisecond)
	}
	require.NoError(t, cm.SetEndpoint("chat", endpoint("a", "10.0.0.2", "")))
	assert.Positive(t, endpointSeries(t, m, "chat", "a"), "an update is not a removal")

	require.NoError(t, cm.DeleteEndpoint("chat", "a"))
	assert.Zero(t, endpointSeries(t, m, "chat", "a"))
	assert.Positive(t, endpointSeries(t, m, "chat", "b"))
}

func TestEmptyUndeclaredClusterIsRemovedAfterTheGracePeriod(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const grace = 100 * time.Millisecond
	m := metrics.New()
	declared := []*model.ClusterConfig{{Name: "declared", LbStr: "Rand"}}
	cm, err := NewClusterManager(declared, m, WithEmptyClusterGrace(grace))
	require.NoError(t, err)
	defer cm.Close()
	registry := cm.ForSource("llm-registry")

	for _, c := range []string{"declared", "fed", "flapping"} {
		require.NoError(t, registry.SetEndpoint(c, endpoint("x", "10.0.0.1", "")))
		require.NoError(t, registry.DeleteEndpoint(c, "x"))
	}
	// "flapping" gets an endpoint back within the grace period: it stays.
	require.NoError(t, registry.SetEndpoint("flapping", endpoint("y", "10.0.0.1", "")))

	require.Eventually(t, func() bool { return cm.Cluster("fed") == nil }, 5*time.Second, 10*time.Millisecond,
		"the registry's empty cluster is removed")
	assert.Zero(t, endpointSeries(t, m, "fed", ""), "with its metric series")
	time.Sleep(2 * grace)
	require.NotNil(t, cm.Cluster("declared"), "a cluster of pixiu.yaml stays, empty or not")
	assert.Equal(t, "Rand", cm.Cluster("declared").LbPolicy)
	require.NotNil(t, cm.Cluster("flapping"))
	assert.Len(t, cm.Cluster("flapping").Members, 1)

	require.NoError(t, registry.SetEndpoint("fed", endpoint("z", "10.0.0.1", "")))
	assert.Len(t, cm.Cluster("fed").Members, 1, "a removed cluster comes back with its next endpoint")
}

func TestCloseStopsPendingRemovals(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cm, err := NewClusterManager(nil, nil, WithEmptyClusterGrace(50*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, cm.SetEndpoint("fed", endpoint("x", "10.0.0.1", "")))
	require.NoError(t, cm.DeleteEndpoint("fed", "x"))
	cm.Close()
	time.Sleep(100 * time.Millisecond)
	assert.NotNil(t, cm.Cluster("fed"), "nothing is removed after Close")
}
