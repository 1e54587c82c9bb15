package registryproxy

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
)

// responses collects what a proxy observes.
type responses struct {
	mu   sync.Mutex
	seen []Response
}

func (r *responses) observe(resp Response) {
	resp.Body = append([]byte(nil), resp.Body...)
	r.mu.Lock()
	r.seen = append(r.seen, resp)
	r.mu.Unlock()
}

// has reports whether a list of path (and service, unless "") containing marker went by.
func (r *responses) has(path, service, marker string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if s.Path == path && (service == "" || s.Service == service) && strings.Contains(string(s.Body), marker) && !s.At.IsZero() {
			return true
		}
	}
	return false
}

func newClient(t *testing.T, addr string) *grpcnaming.Client {
	t.Helper()
	c, err := grpcnaming.New(grpcnaming.Config{Addresses: []string{addr}, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.Eventually(t, c.Connected, 20*time.Second, 50*time.Millisecond, "client of %s never connected", addr)
	return c
}

// A real gRPC naming client talks to r-nacos through the pair: the proxy counts its requests
// and the server's pushes, times the answers, and hands the lists to the observer.
func TestGRPCPairCountsARealExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("needs r-nacos")
	}
	srv := rnacos.StartForTest(t, rnacos.Options{})
	before := goleak.IgnoreCurrent()
	var seen responses
	pair, err := StartGRPCPair(srv.Addr(), srv.GRPCAddr(), seen.observe)
	require.NoError(t, err)

	watcher := newClient(t, pair.Addr())
	provider := newClient(t, srv.Addr()) // straight to the server: not counted
	const service, group = "proxied", "bench"
	require.NoError(t, watcher.Subscribe(service, group, func([]registry.Instance) {}))
	require.NoError(t, provider.Register(registry.Instance{Service: service, Group: group, IP: "127.0.0.1", Port: 41000,
		Weight: 1, Enabled: true, Healthy: true, Metadata: map[string]string{"id": "marker-41000"}}))
	require.Eventually(t, func() bool {
		return seen.has(PathInstanceList, group+"@@"+service, `"marker-41000"`)
	}, 20*time.Second, 20*time.Millisecond, "the push with the new instance never went by")
	names, err := watcher.Services(group)
	require.NoError(t, err)
	assert.Contains(t, names, service)
	assert.True(t, seen.has(PathServiceList, "", `"`+service+`"`), "service list not observed")

	counts := pair.Counts()
	assert.GreaterOrEqual(t, counts["gRPC SubscribeServiceRequest"], int64(1), "counts: %v", counts)
	assert.GreaterOrEqual(t, counts["gRPC ServiceListRequest"], int64(1), "counts: %v", counts)
	assert.GreaterOrEqual(t, counts["gRPC push NotifySubscriberRequest"], int64(1), "counts: %v", counts)
	for k := range counts {
		assert.NotContains(t, k, "InstanceRequest", "the provider's calls bypass the proxy: %v", counts)
		assert.NotContains(t, k, "unparsed", "counts: %v", counts)
	}
	lat := pair.Latencies()
	require.Contains(t, lat, "gRPC ServiceListRequest")
	assert.Equal(t, 1, lat["gRPC ServiceListRequest"].Count())
	t.Logf("counted: %s", FormatCounts(counts))

	require.NoError(t, watcher.Close())
	require.NoError(t, provider.Close())
	require.NoError(t, pair.Close())
	require.Eventually(t, func() bool { return goleak.Find(before) == nil }, 15*time.Second, 100*time.Millisecond,
		"goroutines left: %v", goleak.Find(before))
}
