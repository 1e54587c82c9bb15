package grpcnaming

// Integration tests against a real Nacos-protocol server: r-nacos started by internal/test/rnacos
// (or any Nacos 2.x/3.x named by $PIXIU_TEST_NACOS_GRPC_ADDR; tests that kill or reconfigure the
// server start their own). `go test -short` skips them.

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry" // the default retry policy, for InstanceToEndpoint
)

func TestRegisterPushDeregister(t *testing.T) {
	t.Parallel()
	skipShort(t)
	addr := rnacos.ForTest(t)
	watch := connect(t, addr, Config{})
	first, second := connect(t, addr, Config{}), connect(t, addr, Config{})
	service, group := uniqueName("push"), "pixiu-test"

	w := newWatcher()
	began := time.Now()
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	w.waitFor(t, "no instance", hasPorts())
	t.Logf("subscribe -> first list: %v", time.Since(began))

	meta := map[string]string{"cluster": "chat", "id": "a", "llm-meta.api_key": "sk-test"}
	require.NoError(t, first.Register(instance(service, group, 18081, meta)))
	t.Logf("register -> push: %v", w.waitFor(t, "the first instance", hasPorts(18081)))

	list, err := watch.Instances(service, group)
	require.NoError(t, err)
	require.Len(t, list, 1)
	in := list[0]
	assert.Equal(t, registry.Instance{
		Service: service, Group: group, InstanceID: in.InstanceID, IP: "127.0.0.1", Port: 18081, Weight: 1,
		Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta,
	}, in)
	cluster, ep, err := registry.InstanceToEndpoint(in)
	require.NoError(t, err, "a pushed instance converts to an endpoint")
	assert.Equal(t, "chat", cluster)
	assert.Equal(t, "a", ep.ID)

	require.NoError(t, second.Register(instance(service, group, 18082, nil)))
	t.Logf("second register -> push: %v", w.waitFor(t, "both instances", hasPorts(18081, 18082)))
	require.NoError(t, second.Deregister(instance(service, group, 18082, nil)))
	t.Logf("deregister -> push: %v", w.waitFor(t, "the first instance only", hasPorts(18081)))
	require.NoError(t, first.Deregister(instance(service, group, 18081, nil)))
	t.Logf("last deregister -> push of an empty list: %v", w.waitFor(t, "no instance", hasPorts()))
}

func TestServicesPagesAndInstances(t *testing.T) {
	t.Parallel()
	skipShort(t)
	addr := rnacos.ForTest(t)
	c := connect(t, addr, Config{})
	group := uniqueName("list")
	var want []string
	for i := range 12 {
		service := uniqueName("svc")
		want = append(want, service)
		require.NoError(t, c.Register(instance(service, group, 19000+i, nil)))
	}

	for _, pageSize := range []uint32{5, 12, servicePageSize} {
		names, err := c.listServices(group, pageSize)
		require.NoError(t, err)
		assert.ElementsMatch(t, want, names, "page size %d", pageSize)
		assert.IsIncreasing(t, names)
	}
	other, err := c.Services(group + "-other")
	require.NoError(t, err)
	assert.Empty(t, other)

	list, err := c.Instances(want[3], group)
	require.NoError(t, err)
	assert.Equal(t, []int{19003}, ports(list))
	list, err = c.Instances(uniqueName("unknown"), group)
	require.NoError(t, err, "an unknown service has no instances")
	assert.Empty(t, list)
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	addr := startServer(t, rnacos.Options{}).Addr()
	empty := connect(t, addr, Config{})
	public := connect(t, addr, Config{Namespace: "public"})
	other := connect(t, addr, Config{Namespace: "pixiu-other"})
	service, group := uniqueName("ns"), "pixiu-test"
	require.NoError(t, empty.Register(instance(service, group, 18090, nil)))

	names, err := other.Services(group)
	require.NoError(t, err)
	assert.NotContains(t, names, service, "another namespace does not list it")
	names, err = public.Services(group)
	require.NoError(t, err)
	t.Logf("a service registered in namespace \"\" is listed in namespace \"public\": %v", slices.Contains(names, service))
}

func TestOneInstancePerServicePerClient(t *testing.T) {
	t.Parallel()
	skipShort(t)
	addr := rnacos.ForTest(t)
	c := connect(t, addr, Config{})
	service, group := uniqueName("one"), "pixiu-test"
	require.NoError(t, c.Register(instance(service, group, 18083, map[string]string{"v": "1"})))
	err := c.Register(instance(service, group, 18084, nil))
	require.ErrorContains(t, err, "already holds instance 127.0.0.1:18083")

	// The same instance again updates it. r-nacos may drop an update sent within about 100ms of
	// the connection's start (seen 3 times in 20); a real update comes later than that.
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, c.Register(instance(service, group, 18083, map[string]string{"v": "2"})))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		list, err := c.Instances(service, group)
		require.NoError(ct, err)
		require.Len(ct, list, 1)
		assert.Equal(ct, "2", list[0].Metadata["v"])
	}, changeBound, 50*time.Millisecond)

	require.NoError(t, c.Deregister(instance(service, group, 18083, nil)))
	require.NoError(t, c.Register(instance(service, group, 18084, nil)), "free again after Deregister")
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	skipShort(t)
	addr := rnacos.ForTest(t)
	watch, provider := connect(t, addr, Config{}), connect(t, addr, Config{})
	service, group := uniqueName("unsub"), "pixiu-test"
	require.NoError(t, provider.Register(instance(service, group, 18085, nil)))

	w := newWatcher()
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	w.waitFor(t, "the instance", hasPorts(18085))
	require.ErrorContains(t, watch.Subscribe(service, group, w.onChange), "already subscribed")
	require.NoError(t, watch.Unsubscribe(service, group))
	require.ErrorContains(t, watch.Unsubscribe(service, group), "not subscribed")

	_, before := w.state()
	require.NoError(t, provider.Deregister(instance(service, group, 18085, nil)))
	time.Sleep(3 * time.Second) // pushes take about a second
	latest, after := w.state()
	require.Equal(t, before, after, "a list arrived after Unsubscribe: %s", describe(latest))

	// Subscribing again starts with the current list.
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	w.waitFor(t, "no instance", hasPorts())
}

// A server restart, with its store kept and then wiped. r-nacos forgets ephemeral instances
// either way; the provider's client registers its instance again and the watcher's client
// subscribes again, both by themselves.
func TestReconnectAfterRestart(t *testing.T) {
	t.Parallel()
	srv := startServer(t, rnacos.Options{})
	watch, provider := connect(t, srv.Addr(), Config{}), connect(t, srv.Addr(), Config{})
	service, group := uniqueName("restart"), "pixiu-test"
	w := newWatcher()
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	require.NoError(t, provider.Register(instance(service, group, 18086, nil)))
	w.waitFor(t, "the instance", hasPorts(18086))

	for _, store := range []rnacos.Store{rnacos.KeepStore, rnacos.WipeStore} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		began := time.Now()
		require.NoError(t, srv.Restart(ctx, store))
		cancel()
		ready := time.Since(began)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			list, err := watch.Instances(service, group)
			require.NoError(ct, err)
			assert.Equal(ct, []int{18086}, ports(list))
		}, changeBound, 20*time.Millisecond, "the provider's client registers again")
		t.Logf("restart (%s): ready after %v, instance registered again %v later", storeName(store), ready, time.Since(began)-ready)

		// The subscription is live again: a new registration is pushed, and the watcher's
		// latest list holds the instance registered again.
		late := connect(t, srv.Addr(), Config{})
		port := 18087 + int(store)
		require.NoError(t, late.Register(instance(service, group, port, nil)))
		t.Logf("after restart (%s): register -> push %v", storeName(store), w.waitFor(t, "the new instance", hasPorts(18086, port)))
		require.NoError(t, late.Close())
		t.Logf("after restart (%s): client closed -> its instance gone %v", storeName(store), w.waitFor(t, "the new instance gone", hasPorts(18086)))
	}
}

func storeName(s rnacos.Store) string {
	if s == rnacos.WipeStore {
		return "store wiped"
	}
	return "store kept"
}

// Calls end within the configured timeout when the server hangs, fail at once while it is down,
// and work again when it is back; a client made while the server is down connects later.
func TestReconnectAfterServerDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t, rnacos.Options{})
	const timeout = time.Second
	c := connect(t, srv.Addr(), Config{Timeout: timeout})

	require.NoError(t, syscall.Kill(srv.PID(), syscall.SIGSTOP))
	began := time.Now()
	_, err := c.Services("pixiu-test")
	took := time.Since(began)
	require.NoError(t, syscall.Kill(srv.PID(), syscall.SIGCONT))
	require.Error(t, err)
	assert.Contains(t, err.Error(), srv.Addr())
	assert.Less(t, took, timeout+500*time.Millisecond, "the timeout is honoured")
	t.Logf("server hung: Services failed after %v: %v", took, err)

	require.NoError(t, srv.Kill())
	require.Eventually(t, func() bool { return !c.Connected() }, changeBound, 20*time.Millisecond)
	_, err = c.Services("pixiu-test")
	require.ErrorContains(t, err, "not connected")
	assert.Contains(t, err.Error(), srv.Addr())

	began = time.Now()
	late := connect(t, srv.Addr(), Config{Timeout: timeout})
	t.Logf("server down: New returned after %v", time.Since(began))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, srv.Restart(ctx, rnacos.KeepStore))
	began = time.Now()
	for _, client := range []*Client{c, late} {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			_, err := client.Services("pixiu-test")
			assert.NoError(ct, err)
		}, changeBound, 100*time.Millisecond)
	}
	t.Logf("server back: both clients connected after %v", time.Since(began))
}
