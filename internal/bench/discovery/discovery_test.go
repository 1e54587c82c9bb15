package discovery

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/bench/registryproxy"
)

func instanceList(service string, at time.Time, body string) registryproxy.Response {
	return registryproxy.Response{At: at, Path: registryproxy.PathInstanceList, Service: service, Body: []byte(body)}
}

func TestWatchMatchesTheFirstResponseCarryingTheChange(t *testing.T) {
	w := NewWatch()
	t0 := time.Now()
	added := w.InstanceList("g", "svc", `"b-1"`, true, t0)
	gone := w.InstanceList("g", "svc", `"a-1"`, false, t0)
	listed := w.ServiceList("svc", t0)

	// Too early, another service, or without the change: no match.
	w.Observe(instanceList("g@@svc", t0.Add(-time.Millisecond), `{"id":"b-1"}`))
	w.Observe(instanceList("g@@other", t0.Add(time.Millisecond), `{"id":"b-1"}`))
	w.Observe(instanceList("g@@svc", t0.Add(2*time.Millisecond), `{"id":"a-1"}`))
	assert.True(t, added.At().IsZero())
	assert.True(t, gone.At().IsZero())

	w.Observe(instanceList("g@@svc", t0.Add(3*time.Millisecond), `{"hosts":[{"id":"b-1"}]}`))
	w.Observe(instanceList("g@@svc", t0.Add(4*time.Millisecond), `{"hosts":[{"id":"b-1"},{"id":"b-1"}]}`))
	select {
	case <-added.Done():
	default:
		t.Fatal("the expectation should be done")
	}
	assert.Equal(t, t0.Add(3*time.Millisecond), added.At(), "the first matching response counts")
	assert.Equal(t, t0.Add(4*time.Millisecond), w.LastHitBefore(added, t0.Add(10*time.Millisecond)))
	assert.Equal(t, t0.Add(3*time.Millisecond), w.LastHitBefore(added, t0.Add(3500*time.Microsecond)))
	assert.True(t, w.LastHitBefore(added, t0).IsZero())
	assert.Equal(t, t0.Add(3*time.Millisecond), gone.At(), "a-1 is absent from that list too")

	w.Observe(registryproxy.Response{At: t0.Add(5 * time.Millisecond), Path: registryproxy.PathServiceList, Body: []byte(`{"doms":["svc2"]}`)})
	assert.True(t, listed.At().IsZero(), "svc2 is not svc")
	w.Observe(registryproxy.Response{At: t0.Add(6 * time.Millisecond), Path: registryproxy.PathServiceList, Body: []byte(`{"doms":["x","svc"]}`)})
	assert.Equal(t, t0.Add(6*time.Millisecond), listed.At())

	cancelled := w.InstanceList("g", "svc", `"c-1"`, true, t0)
	w.Cancel(cancelled)
	w.Observe(instanceList("g@@svc", t0.Add(7*time.Millisecond), `{"id":"c-1"}`))
	assert.True(t, cancelled.At().IsZero())
}

func TestSumSamplesAddsMatchingSeries(t *testing.T) {
	text := `# HELP pixiu_cluster_endpoints Endpoints per cluster by source.
# TYPE pixiu_cluster_endpoints gauge
pixiu_cluster_endpoints{cluster="a",source="llm-registry"} 5
pixiu_cluster_endpoints{cluster="b",source="llm-registry"} 3
pixiu_cluster_endpoints{cluster="b",source="static"} 7
pixiu_cluster_endpoints_other{cluster="a",source="llm-registry"} 100
`
	n, err := sumSamples(bufio.NewScanner(strings.NewReader(text)), "pixiu_cluster_endpoints", `source="llm-registry"`)
	require.NoError(t, err)
	assert.Equal(t, 8.0, n)

	_, err = sumSamples(bufio.NewScanner(strings.NewReader(`pixiu_cluster_endpoints{source="x"} many`)), "pixiu_cluster_endpoints", "")
	assert.Error(t, err)
}

func TestTrialClustersAndRoutes(t *testing.T) {
	cfg := TrialConfig{Lanes: 2, Trials: 3}
	assert.Equal(t, []string{"lane00-a", "lane00-b", "lane01-a", "lane01-b"}, cfg.TrialClusters())
	routes := TrialRoutes(cfg)
	require.Len(t, routes, 4)
	assert.Equal(t, ClusterHeader, routes[3].Header)
	assert.Equal(t, "lane01-b", routes[3].Value)
	assert.Equal(t, "lane01-b", routes[3].Cluster)
}

func TestInstanceMetadataRoutesToTheTarget(t *testing.T) {
	md := Instance{Service: "s", Port: 40000, Cluster: "c", ID: "e", TargetPort: 8000, Name: "rev-3"}.metadata()
	assert.Equal(t, map[string]string{"cluster": "c", "id": "e", "ip": "127.0.0.1", "port": "8000", "name": "rev-3"}, md)
	assert.NotContains(t, Instance{Cluster: "c", ID: "e", TargetPort: 1}.metadata(), "name")
}

func TestUpdateRates(t *testing.T) {
	assert.Equal(t, 50.0, UpdateStats{Sent: 100, Time: 2 * time.Second}.Rate())
	assert.Zero(t, UpdateStats{Sent: 100}.Rate())
	c := &ChurnResult{ChurnUpdates: UpdateStats{Sent: 100, Time: 2 * time.Second}, UpdatesApplied: 40}
	assert.Equal(t, 50.0, c.SentRate())
	assert.Equal(t, 20.0, c.AppliedRate())
	c.UpdatesApplied = -1
	assert.Negative(t, c.AppliedRate())
	r := &ScaleResult{SteadyWindow: 30 * time.Second, SteadyTotal: 600}
	assert.Equal(t, 1200.0, r.CallsPerMinute())
}
