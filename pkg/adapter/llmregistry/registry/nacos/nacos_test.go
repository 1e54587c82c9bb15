package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/test/logcapture"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, sdkGoroutines()...)
}

// sdkGoroutines are the goroutines nacos-sdk-go v1 starts for every naming client and never
// stops (it has no Close): the host reactor's refresh loop and its per-service refreshes, the
// UDP push receiver, and with a username the token refresh loop. After Stop they only meet a
// closed HTTP agent.
func sdkGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/clients/naming_client.(*HostReactor).asyncUpdateService"),
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/clients/naming_client.(*HostReactor).asyncUpdateService.func1"),
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/clients/naming_client.(*PushReceiver).startServer.func1"),
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/common/security.(*AuthClient).AutoRefresh.func1"),
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// Pitfall 1: the SDK's default page size is 10; services 11+ must be seen too.
func TestPitfall01EveryServiceIsListedWithPaging(t *testing.T) {
	for _, pageSize := range []int{0 /* default */, 10, 7} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			f := newFake()
			for i, s := range names("svc", 35) {
				f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s))
			}
			_, sink := watchFake(t, f, registry.Config{PageSize: pageSize}, nil)
			require.Eventually(t, func() bool { return sink.count() == 35 }, waitFor, tick, "every one of 35 services is routed")
			f.mu.Lock()
			defer f.mu.Unlock()
			assert.NotContains(t, f.pageSizes, uint32(0), "a page size is always given")
			if pageSize == 0 {
				assert.Equal(t, uint32(registry.DefaultPageSize), f.pageSizes[0])
			}
		})
	}
}

// Polaris: shuffled order, namespace-wide count, padded pages, an error past the group's end.
func TestPolarisServiceListQuirks(t *testing.T) {
	f := newFake()
	f.polaris = true
	f.namespaceN = 40 // services of other groups
	for i, s := range names("svc", 25) {
		f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s))
	}
	r, sink := watchFake(t, f, registry.Config{PageSize: 50}, nil)
	require.Eventually(t, func() bool { return sink.count() == 25 }, waitFor, tick)
	// Several passes later the registry is still healthy: the padded page ended the listing.
	time.Sleep(3 * r.cfg.RefreshInterval)
	h := r.Health()
	assert.True(t, h.Reachable, "last error: %s", h.LastError)
	assert.Len(t, h.Services, 25)
	assert.NotContains(t, h.Services, "")
}

// Small pages over a shuffling list skip services in some passes: a service missing from one
// listing is kept while its own instance list is not empty.
func TestMissingFromOneListingIsNotGone(t *testing.T) {
	f := newFake()
	f.polaris = true
	for i, s := range names("svc", 30) {
		f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s))
	}
	var mu sync.Mutex
	removed := 0
	s := &countingSink{sink: newSink(), onDelete: func() { mu.Lock(); removed++; mu.Unlock() }}
	startOn(t, f, registry.Config{PageSize: 7, RefreshInterval: 100 * time.Millisecond}, registry.Env{Name: "test"}, s)
	require.Eventually(t, func() bool { return s.sink.count() == 30 }, waitFor, tick)
	time.Sleep(20 * 100 * time.Millisecond) // twenty passes over a shuffling list
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, removed, "no endpoint was removed because its service was missing from one listing")
	assert.Equal(t, 30, s.sink.count())
}

type countingSink struct {
	sink     *sink
	onDelete func()
}

func (c *countingSink) OnEndpointEvent(ev registry.Event) error {
	if ev.Type.String() == "delete" {
		c.onDelete()
	}
	return c.sink.OnEndpointEvent(ev)
}

func (c *countingSink) OnRejections(rs []*registry.MetadataError) { c.sink.OnRejections(rs) }

// Pitfall 2: a new service is found within one refresh interval, not after a fixed 30s.
func TestPitfall02NewServiceFoundWithinOneInterval(t *testing.T) {
	f := newFake()
	f.set("first", host("10.0.0.1", 80, "cluster", "chat", "id", "first"))
	_, sink := watchFake(t, f, registry.Config{RefreshInterval: 200 * time.Millisecond}, nil)
	require.Eventually(t, func() bool { return sink.count() == 1 }, waitFor, tick)
	began := time.Now()
	f.set("second", host("10.0.0.2", 80, "cluster", "chat", "id", "second"))
	require.Eventually(t, func() bool { return sink.get("chat/second") != nil }, waitFor, tick)
	t.Logf("new service routed after %v (refresh interval 200ms)", time.Since(began).Round(time.Millisecond))
}

// Pitfall 3: no push arrives when the last instance leaves; the re-read must notice.
func TestPitfall03LastInstanceLeavesWithoutAPush(t *testing.T) {
	f := newFake()
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "only"))
	r, sink := watchFake(t, f, registry.Config{RefreshInterval: 200 * time.Millisecond}, nil)
	require.Eventually(t, func() bool { return sink.get("chat/only") != nil }, waitFor, tick)
	began := time.Now()
	f.set("ds") // still listed, no instance, no callback
	require.Eventually(t, func() bool { return sink.get("chat/only") == nil }, waitFor, tick)
	t.Logf("last instance removed after %v without a push (refresh interval 200ms)", time.Since(began).Round(time.Millisecond))
	assert.Equal(t, []string{"ds"}, r.Health().Services, "a listed service stays watched")
}

// Pitfall 4 and 5: a service gone from the list loses its endpoints and its subscription, and
// the unsubscribe really drops the callback (same *SubscribeParam).
func TestPitfall04And05VanishedServiceIsRemovedAndUnsubscribed(t *testing.T) {
	f := newFake()
	f.set("stays", host("10.0.0.1", 80, "cluster", "chat", "id", "stays"))
	f.set("goes", host("10.0.0.2", 80, "cluster", "chat", "id", "goes1"), host("10.0.0.3", 80, "cluster", "chat", "id", "goes2"))
	r, sink := watchFake(t, f, registry.Config{}, nil)
	require.Eventually(t, func() bool { return sink.count() == 3 }, waitFor, tick)
	require.Equal(t, 2, f.callbackCount())

	f.drop("goes")
	require.Eventually(t, func() bool { return sink.count() == 1 && sink.get("chat/stays") != nil }, waitFor, tick,
		"the vanished service's endpoints are removed")
	require.Eventually(t, func() bool { return f.callbackCount() == 1 }, waitFor, tick,
		"its callback is dropped from the SDK")
	assert.Equal(t, []string{"stays"}, r.Health().Services)

	r.Stop()
	assert.Zero(t, f.callbackCount(), "Stop drops every callback")
}

func TestPushTriggersAFreshRead(t *testing.T) {
	f := newFake()
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a", "llm-meta.api_key", "sk-old"))
	_, sink := watchFake(t, f, registry.Config{RefreshInterval: time.Hour}, nil)
	require.Eventually(t, func() bool { return sink.get("chat/a") != nil }, waitFor, tick)
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new"))
	f.push("ds")
	require.Eventually(t, func() bool { ep := sink.get("chat/a"); return ep != nil && ep.LLMMeta.APIKey == "sk-new" }, waitFor, tick,
		"a push is applied long before the hour-long re-read")
}

func TestRegistryErrorsKeepEndpointsAndRecover(t *testing.T) {
	var logs logcapture.Buffer
	m := metrics.New()
	f := newFake()
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a"))
	s := newSink()
	r := startOn(t, f, registry.Config{RefreshInterval: 100 * time.Millisecond},
		registry.Env{Name: "test", Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, s)
	require.Eventually(t, func() bool { return s.count() == 1 && r.Health().Reachable }, waitFor, tick)
	firstSync := r.Health().LastSync
	require.False(t, firstSync.IsZero())

	f.setListErr(errors.New("connection refused"))
	f.mu.Lock()
	f.queryErr["ds"] = errors.New("connection refused")
	f.mu.Unlock()
	require.Eventually(t, func() bool { return metricValue(t, m, "pixiu_registry_errors_total") >= 3 }, waitFor, tick)
	h := r.Health()
	assert.False(t, h.Reachable)
	assert.Contains(t, h.LastError, "connection refused")
	assert.NotNil(t, s.get("chat/a"), "known endpoints stay while the registry fails")
	assert.Equal(t, 1, strings.Count(logs.String(), "registry unavailable"), "logged once, not per retry:\n%s", logs.String())

	// While down, a deregistration cannot be seen; once back, it is.
	f.set("ds")
	f.setListErr(nil)
	f.mu.Lock()
	delete(f.queryErr, "ds")
	f.mu.Unlock()
	require.Eventually(t, func() bool { return s.count() == 0 && r.Health().Reachable }, waitFor, tick)
	assert.True(t, r.Health().LastSync.After(firstSync))
	assert.Empty(t, r.Health().LastError)
	assert.Equal(t, 1, strings.Count(logs.String(), "registry available again"))
}

func TestOneFailingServiceKeepsItsEndpoints(t *testing.T) {
	f := newFake()
	f.set("ok", host("10.0.0.1", 80, "cluster", "chat", "id", "ok"))
	f.set("flaky", host("10.0.0.2", 80, "cluster", "chat", "id", "flaky"))
	_, sink := watchFake(t, f, registry.Config{}, nil)
	require.Eventually(t, func() bool { return sink.count() == 2 }, waitFor, tick)
	f.mu.Lock()
	f.queryErr["flaky"] = errors.New("timeout")
	f.mu.Unlock()
	f.set("flaky") // would remove it, if the failed read were taken as empty
	f.set("ok", host("10.0.0.1", 80, "cluster", "chat", "id", "ok", "name", "renamed"))
	require.Eventually(t, func() bool { ep := sink.get("chat/ok"); return ep != nil && ep.Name == "renamed" }, waitFor, tick)
	assert.NotNil(t, sink.get("chat/flaky"))
}

func TestFailedSubscribeLeavesNoCallbackAndIsRetried(t *testing.T) {
	f := newFake()
	f.subErr = errors.New("get service info failed")
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a"))
	_, sink := watchFake(t, f, registry.Config{RefreshInterval: 100 * time.Millisecond}, nil)
	require.Eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.unsubscribe >= 3 }, waitFor, tick)
	assert.Zero(t, f.callbackCount(), "every failed subscribe removed its callback")
	f.mu.Lock()
	f.subErr = nil
	f.mu.Unlock()
	require.Eventually(t, func() bool { return sink.get("chat/a") != nil }, waitFor, tick)
	assert.Equal(t, 1, f.callbackCount())
}

func TestRejectionsAreDelivered(t *testing.T) {
	f := newFake()
	f.set("ds", host("10.0.0.1", 80, "id", "no-cluster"))
	_, sink := watchFake(t, f, registry.Config{}, nil)
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.rejections) == 1 && sink.rejections[0].Key == "cluster" && sink.rejections[0].Service == "ds"
	}, waitFor, tick)
}

func TestStopIsIdempotentAndWorksWithoutStart(t *testing.T) {
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:1"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	reg.Stop()
	reg.Stop()
	reg.Start(newSink()) // after Stop: does nothing
	reg.Stop()

	f := newFake()
	r, _ := watchFake(t, f, registry.Config{}, nil)
	r.Stop()
	r.Stop()
}

func TestStartDoesNotBlockOnAnUnreachableRegistry(t *testing.T) {
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond}, registry.Env{Name: "down", Logger: quiet})
	require.NoError(t, err)
	r := reg.(*Registry)
	r.connect = func(context.Context) (namingClient, error) {
		f := newFake()
		f.listErr = errors.New("dial tcp 127.0.0.1:1: connection refused")
		return f, nil
	}
	began := time.Now()
	r.Start(newSink())
	assert.Less(t, time.Since(began), 100*time.Millisecond)
	require.Eventually(t, func() bool { return r.Health().LastError != "" }, waitFor, tick)
	assert.False(t, r.Health().Reachable)
	r.Stop()
}

func TestConfigValidation(t *testing.T) {
	ok := registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}
	for name, edit := range map[string]func(*registry.Config){
		"no address":        func(c *registry.Config) { c.Address = " " },
		"bad port":          func(c *registry.Config) { c.Address = "127.0.0.1:0" },
		"port not a number": func(c *registry.Config) { c.Address = "127.0.0.1:http" },
		"bad scheme":        func(c *registry.Config) { c.Address = "ftp://127.0.0.1:8848" },
		"negative timeout":  func(c *registry.Config) { c.Timeout = -time.Second },
		"tiny timeout":      func(c *registry.Config) { c.Timeout = time.Microsecond },
		"tiny interval":     func(c *registry.Config) { c.RefreshInterval = time.Millisecond },
		"negative page":     func(c *registry.Config) { c.PageSize = -1 },
	} {
		cfg := ok
		edit(&cfg)
		_, err := New(cfg, registry.Env{Name: "x", Logger: quiet})
		assert.Error(t, err, name)
	}
	_, err := New(ok, registry.Env{Name: "x", Logger: quiet})
	assert.NoError(t, err)
}

func TestEnvAddressOverridesTheConfig(t *testing.T) {
	t.Setenv(EnvAddress, "10.9.9.9:8848,10.9.9.10")
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	r := reg.(*Registry)
	assert.Equal(t, "10.9.9.9:8848,10.9.9.10", r.Health().Address)
	require.Len(t, r.cfg.servers, 2)
	assert.Equal(t, "10.9.9.9", r.cfg.servers[0].IpAddr)
	assert.Equal(t, uint64(8848), r.cfg.servers[1].Port)

	t.Setenv(EnvAddress, "")
	reg, err = New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8848", reg.Health().Address, "an empty variable overrides nothing")
}

func TestParseAddresses(t *testing.T) {
	got, err := ParseAddresses(" 127.0.0.1:8848, nacos.local ,https://nacos.example.com:9443/ctx/, [::1]:8848")
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, "127.0.0.1", got[0].IpAddr)
	assert.Equal(t, uint64(8848), got[0].Port)
	assert.Equal(t, "http", got[0].Scheme)
	assert.Equal(t, "/nacos", got[0].ContextPath)
	assert.Equal(t, "nacos.local", got[1].IpAddr)
	assert.Equal(t, uint64(8848), got[1].Port, "default port")
	assert.Equal(t, "https", got[2].Scheme)
	assert.Equal(t, uint64(9443), got[2].Port)
	assert.Equal(t, "/ctx", got[2].ContextPath)
	assert.Equal(t, "[::1]", got[3].IpAddr)
	for _, bad := range []string{"", " , ", "host:99999", "host:-1", "ho st:80", "user@host:80"} {
		_, err := ParseAddresses(bad)
		assert.Error(t, err, bad)
	}
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	b := newBackoff(time.Second)
	var last time.Duration
	for i := 0; i < 10; i++ {
		last = b.next()
		assert.LessOrEqual(t, last, 4*time.Second+4*time.Second/10)
		assert.Greater(t, last, time.Duration(0))
	}
	assert.GreaterOrEqual(t, last, 4*time.Second*9/10)
	b.reset()
	assert.Less(t, b.next(), 1200*time.Millisecond)

	assert.LessOrEqual(t, newBackoff(100*time.Millisecond).max, 400*time.Millisecond)
	assert.Equal(t, maxBackoff, newBackoff(time.Minute).max)
}

// metricValue reads a metric of the "test" registry.
func metricValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "registry" && l.GetValue() == "test" {
					if c := metric.GetCounter(); c != nil {
						return c.GetValue()
					}
					return metric.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// Pushes arrive on SDK goroutines, for many services at once, while the watch reads.
func TestConcurrentPushesAreSafe(t *testing.T) {
	f := newFake()
	services := names("svc", 16)
	for i, s := range services {
		f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s))
	}
	_, sink := watchFake(t, f, registry.Config{}, nil)
	require.Eventually(t, func() bool { return sink.count() == 16 }, waitFor, tick)
	var wg sync.WaitGroup
	for round := 0; round < 20; round++ {
		for i, s := range services {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s, "name", fmt.Sprintf("r%d", round)))
				f.push(s)
			}()
		}
	}
	wg.Wait()
	for i, s := range services {
		f.set(s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s, "name", "final"))
		f.push(s)
	}
	require.Eventually(t, func() bool {
		for _, s := range services {
			if ep := sink.get("chat/" + s); ep == nil || ep.Name != "final" {
				return false
			}
		}
		return true
	}, waitFor, tick, "every service converges on its last state")
}

// Stop does not wait for a registry that hangs: requests in flight are cancelled.
func TestStopCancelsRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	reg, err := New(registry.Config{Protocol: Protocol, Address: strings.TrimPrefix(srv.URL, "http://"), Timeout: time.Minute},
		registry.Env{Name: "hang", Logger: quiet})
	require.NoError(t, err)
	reg.Start(newSink())
	time.Sleep(100 * time.Millisecond) // the first list call is in flight
	began := time.Now()
	reg.Stop()
	assert.Less(t, time.Since(began), 5*time.Second, "Stop waited for a one-minute registry timeout")
}

// One service that cannot be subscribed must not stop the others from being reconciled, nor
// slow them down with backoff.
func TestOneFailingSubscribeDoesNotStopTheOthers(t *testing.T) {
	f := newFake()
	f.subErrFor["broken"] = errors.New("request return error code 500")
	f.set("broken", host("10.0.0.9", 80, "cluster", "chat", "id", "broken"))
	f.set("ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a"))
	r, sink := watchFake(t, f, registry.Config{}, nil)
	require.Eventually(t, func() bool { return sink.get("chat/a") != nil }, waitFor, tick)
	f.set("ds") // last instance leaves, no push
	require.Eventually(t, func() bool { return sink.get("chat/a") == nil }, waitFor, tick)
	h := r.Health()
	assert.False(t, h.Reachable, "the failing service is reported")
	assert.Contains(t, h.LastError, `"broken"`)
	assert.Equal(t, []string{"ds"}, h.Services)
}
