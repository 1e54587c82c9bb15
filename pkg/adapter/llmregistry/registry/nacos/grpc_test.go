package nacos

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// fakeNaming is a namingClient in memory.
type fakeNaming struct {
	mu       sync.Mutex
	services []string
	subs     map[string]func([]registry.Instance)
	unsubbed []string
	closed   bool
}

func (f *fakeNaming) Services(string) ([]string, error) { return f.services, nil }

func (f *fakeNaming) Instances(service, _ string) ([]registry.Instance, error) {
	return []registry.Instance{routable(service, "10.0.0.1")}, nil
}

// Subscribe delivers the service's list first, as grpcnaming's does.
func (f *fakeNaming) Subscribe(service, group string, onChange func([]registry.Instance)) error {
	f.mu.Lock()
	f.subs[service] = onChange
	f.mu.Unlock()
	current, _ := f.Instances(service, group)
	onChange(current)
	return nil
}

func (f *fakeNaming) Unsubscribe(service, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unsubbed = append(f.unsubbed, service)
	return nil
}

func (f *fakeNaming) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func routable(service, ip string) registry.Instance {
	return registry.Instance{Service: service, IP: ip, Port: 80, Weight: 1, Healthy: true, Enabled: true,
		Metadata: map[string]string{"cluster": "chat", "id": service + "-" + ip}}
}

func (f *fakeNaming) callback(service string) func([]registry.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[service]
}

// newTestGRPCSource builds a grpc source of the address whose client is fake; dialErr is what
// the reachability check answers.
func newTestGRPCSource(t *testing.T, address string, dialErr error) (*grpcSource, *fakeNaming, *int) {
	t.Helper()
	s, _, err := settingsOf(registry.Config{Address: address, Transport: registry.TransportGRPC}, registry.Env{Name: "reg", Logger: quiet})
	require.NoError(t, err)
	src, err := newGRPCSource(s, registry.Env{})
	require.NoError(t, err)
	g := src.(*grpcSource)
	fake := &fakeNaming{services: []string{"a", "b"}, subs: map[string]func([]registry.Instance){}}
	created := 0
	g.dial = func(context.Context, string) error { return dialErr }
	g.newFn = func(grpcnaming.Config) (namingClient, error) { created++; return fake, nil }
	return g, fake, &created
}

func TestGRPCTransportIsRegisteredAndStartsNothing(t *testing.T) {
	// Port 9 on loopback: nothing may be dialled before Start, and Stop without Start returns.
	reg, err := New(registry.Config{Address: "127.0.0.1:9", Transport: "grpc"}, registry.Env{Name: "reg", Logger: quiet})
	require.NoError(t, err)
	reg.Stop()
}

func TestGRPCAddresses(t *testing.T) {
	servers, err := ParseAddresses("10.0.0.1:8848, [::1]:9000, nacos.local")
	require.NoError(t, err)
	httpAddrs, grpcAddrs, err := GRPCAddresses(servers)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:8848", "[::1]:9000", "nacos.local:8848"}, httpAddrs)
	assert.Equal(t, []string{"10.0.0.1:9848", "[::1]:10000", "nacos.local:9848"}, grpcAddrs)

	for _, bad := range []string{"https://10.0.0.1:8848", "10.0.0.1:8848/other", "10.0.0.1:65000"} {
		_, err := New(registry.Config{Address: bad, Transport: "grpc"}, registry.Env{Name: "reg", Logger: quiet})
		assert.Error(t, err, bad)
	}
}

func TestGRPCSourceConnectsLazilyOnce(t *testing.T) {
	g, fake, created := newTestGRPCSource(t, "127.0.0.1:8848", nil)
	_, err := g.ReadInstances(context.Background(), "a")
	assert.ErrorIs(t, err, errNotConnected, "reads never create the client")
	assert.Error(t, g.Subscribe("a", func([]registry.Instance) {}))
	assert.Zero(t, *created)

	for range 2 {
		names, err := g.ListServices(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, names)
	}
	assert.Equal(t, 1, *created)
	list, err := g.ReadInstances(context.Background(), "a")
	require.NoError(t, err)
	assert.Len(t, list, 1)

	g.Close()
	assert.True(t, fake.closed)
	_, err = g.ListServices(context.Background())
	assert.Error(t, err, "closed")
	assert.Equal(t, 1, *created)
}

func TestGRPCSourceUnreachableNamesTheGRPCPort(t *testing.T) {
	g, _, created := newTestGRPCSource(t, "127.0.0.1:8848", errors.New("connection refused"))
	_, err := g.ListServices(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"reg"`)
	assert.Contains(t, err.Error(), "127.0.0.1:9848")
	assert.Zero(t, *created, "no client against an unreachable server: creating one blocks for seconds")
}

func TestGRPCSourceNoPushAfterUnsubscribe(t *testing.T) {
	g, fake, _ := newTestGRPCSource(t, "127.0.0.1:8848", nil)
	_, err := g.ListServices(context.Background())
	require.NoError(t, err)
	var got [][]registry.Instance
	require.NoError(t, g.Subscribe("a", func(l []registry.Instance) { got = append(got, l) }))
	cb := fake.callback("a")
	cb([]registry.Instance{{Service: "a"}})
	require.NoError(t, g.Unsubscribe("a"))
	cb(nil) // a delivery the client picked before the unsubscription
	assert.Len(t, got, 2, "the list the subscription brought and one push; nothing after Unsubscribe")
	assert.Equal(t, []string{"a"}, fake.unsubbed)
	g.Close()
}

func TestGRPCSourceDrivesTheWatch(t *testing.T) {
	g, fake, _ := newTestGRPCSource(t, "127.0.0.1:8848", nil)
	var _ base.PushSource = g
	w := newWatch(g.s, registry.Env{Name: "reg", Logger: quiet}, g)
	l := &sink{endpoints: map[string]*model.Endpoint{}}
	w.Start(l)
	require.Eventually(t, func() bool { return fake.callback("a") != nil && fake.callback("b") != nil && l.count() == 2 },
		waitFor, tick, "every listed service is subscribed, and its subscription brings its list")
	fake.callback("a")([]registry.Instance{routable("a", "10.0.0.1"), routable("a", "10.0.0.2")})
	require.Eventually(t, func() bool { return l.count() == 3 }, waitFor, tick, "a push is applied")
	w.Stop()
	assert.Empty(t, fake.unsubbed, "Stop closes the client instead of unsubscribing service by service")
	assert.True(t, fake.closed, "closing the connection ends its subscriptions on the server")
}
