package base_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a registry as the watch reads it. A service key present in instances is listed.
type fakeSource struct {
	mu        sync.Mutex
	instances map[string][]registry.Instance
	unlisted  map[string][]registry.Instance // readable but not listed
	listErr   error
	readErr   map[string]error
	readDelay time.Duration
	lists     int
	reads     map[string]int
	readTimes map[string][]time.Time
	closed    bool
}

func newSource() *fakeSource {
	return &fakeSource{instances: map[string][]registry.Instance{}, unlisted: map[string][]registry.Instance{},
		readErr: map[string]error{}, reads: map[string]int{}, readTimes: map[string][]time.Time{}}
}

func (f *fakeSource) ListServices(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := make([]string, 0, len(f.instances))
	for s := range f.instances {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeSource) ReadInstances(ctx context.Context, service string) ([]registry.Instance, error) {
	f.mu.Lock()
	delay := f.readDelay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[service]++
	f.readTimes[service] = append(f.readTimes[service], time.Now())
	if err := f.readErr[service]; err != nil {
		return nil, err
	}
	if in, ok := f.instances[service]; ok {
		return append([]registry.Instance(nil), in...), nil
	}
	return append([]registry.Instance(nil), f.unlisted[service]...), nil
}

func (f *fakeSource) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (f *fakeSource) set(service string, in ...registry.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[service] = in
}

// wipe is a registry restarted without its data: nothing listed, nothing readable.
func (f *fakeSource) wipe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances = map[string][]registry.Instance{}
	f.unlisted = map[string][]registry.Instance{}
}

func (f *fakeSource) readsOf(service string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[service]
}

func endpointInst(ip, id string, kv ...string) registry.Instance {
	m := meta(append([]string{"cluster", "chat", "id", id}, kv...)...)
	return inst(ip, 80, m)
}

const (
	waitFor = 5 * time.Second
	tick    = 5 * time.Millisecond
)

type watchOpts struct {
	interval, grace, confirm, deadline time.Duration
	metrics                            *metrics.Metrics
	logs                               *logcapture.Buffer
}

func startWatch(t *testing.T, src base.Source, o watchOpts) (*base.Watch, *recorder) {
	t.Helper()
	if o.interval == 0 {
		o.interval = 50 * time.Millisecond
	}
	if o.confirm == 0 {
		o.confirm = 150 * time.Millisecond
	}
	logger := slog.New(slog.DiscardHandler)
	if o.logs != nil {
		logger = slog.New(slog.NewTextHandler(o.logs, nil))
	}
	w := base.NewWatch(base.WatchConfig{Name: "test", RefreshInterval: o.interval, Timeout: time.Second,
		ForgetGrace: o.grace, ConfirmDelay: o.confirm, PassDeadline: o.deadline}, src,
		registry.Env{Name: "test", Logger: logger, Metrics: o.metrics})
	r := newRecorder()
	w.Start(r)
	t.Cleanup(w.Stop)
	return w, r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.endpoints)
}

func (r *recorder) batchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches
}

func TestWatchRoutesEveryListedService(t *testing.T) {
	src := newSource()
	for i := range 30 {
		src.set(fmt.Sprintf("svc-%02d", i), endpointInst(fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("ep-%02d", i)))
	}
	w, r := startWatch(t, src, watchOpts{})
	require.Eventually(t, func() bool { return r.count() == 30 }, waitFor, tick)
	h := w.Health()
	assert.True(t, h.Reachable)
	assert.Len(t, h.Services, 30)
	assert.Nil(t, h.Forgotten)
}

// Steady state: one listing plus one read per service per interval, each pass one batch.
func TestWatchReadCostPerPass(t *testing.T) {
	src := newSource()
	for i := range 10 {
		src.set(fmt.Sprintf("svc-%d", i), endpointInst(fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("ep-%d", i)))
	}
	_, r := startWatch(t, src, watchOpts{interval: 100 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 10 }, waitFor, tick)
	time.Sleep(time.Second)
	src.mu.Lock()
	lists, reads := src.lists, src.reads["svc-3"]
	src.mu.Unlock()
	assert.InDelta(t, lists, reads, 1, "one read of each service per listing")
	assert.InDelta(t, 11, lists, 3, "one pass per interval")
	assert.InDelta(t, lists, r.batchCount(), 1, "one batch per pass")
}

// The last instance leaves (no push, the service stays listed): removed after a confirming read
// at least ConfirmDelay later, not on the first empty read.
func TestWatchEmptyListIsConfirmedBeforeRemoval(t *testing.T) {
	src := newSource()
	src.set("solo", endpointInst("10.0.0.1", "only"))
	w, r := startWatch(t, src, watchOpts{interval: 100 * time.Millisecond, confirm: 500 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick)
	began := time.Now()
	src.set("solo") // still listed, no instance
	require.Eventually(t, func() bool { return r.count() == 0 }, waitFor, tick)
	took := time.Since(began)
	assert.GreaterOrEqual(t, took, 500*time.Millisecond, "not removed on the first empty read")
	assert.Less(t, took, 500*time.Millisecond+500*time.Millisecond, "removed right after the confirming read")
	assert.Equal(t, []string{"solo"}, w.Health().Services, "a listed service stays watched")
}

// A service re-registering is listed a moment before its instances: an empty read followed by
// a full one removes nothing.
func TestWatchEmptyThenBackRemovesNothing(t *testing.T) {
	src := newSource()
	src.set("svc", endpointInst("10.0.0.1", "a"))
	_, r := startWatch(t, src, watchOpts{interval: 50 * time.Millisecond, confirm: 400 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick)
	r.take()
	src.set("svc")
	require.Eventually(t, func() bool { return src.readsOf("svc") >= 3 }, waitFor, tick)
	src.set("svc", endpointInst("10.0.0.1", "a"))
	time.Sleep(800 * time.Millisecond)
	assert.Empty(t, r.take(), "no removal, no re-add")
	assert.Equal(t, 1, r.count())
}

// The confirming read is scheduled at once: with an interval far longer than the delay it
// still happens ConfirmDelay after the empty read.
func TestWatchConfirmationDoesNotWaitForTheNextPass(t *testing.T) {
	src := newSource()
	src.set("a", endpointInst("10.0.0.1", "a"))
	src.set("b", endpointInst("10.0.0.2", "b"))
	_, r := startWatch(t, src, watchOpts{interval: 600 * time.Millisecond, confirm: 100 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 2 }, waitFor, tick)
	src.set("a")
	reads := src.readsOf("a")
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick)
	src.mu.Lock()
	times := src.readTimes["a"][reads:]
	src.mu.Unlock()
	require.GreaterOrEqual(t, len(times), 2)
	gap := times[1].Sub(times[0])
	assert.GreaterOrEqual(t, gap, 100*time.Millisecond)
	assert.Less(t, gap, 450*time.Millisecond, "confirmed by its own timer, not by the next 600ms pass")
}

// A registry that restarted without its data lists nothing: every endpoint stays, the state is
// reported, what reappears is applied at once, what is still missing goes after the grace.
func TestWatchRegistryThatForgotKeepsEndpoints(t *testing.T) {
	var logs logcapture.Buffer
	m := metrics.New()
	src := newSource()
	src.set("back", endpointInst("10.0.0.1", "back"))
	src.set("late", endpointInst("10.0.0.2", "late"))
	src.set("gone", endpointInst("10.0.0.3", "gone"))
	w, r := startWatch(t, src, watchOpts{interval: 50 * time.Millisecond, grace: 1500 * time.Millisecond, logs: &logs, metrics: m})
	require.Eventually(t, func() bool { return r.count() == 3 }, waitFor, tick)
	r.take()

	src.wipe()
	began := time.Now()
	require.Eventually(t, func() bool { return w.Health().Forgotten != nil }, waitFor, tick)
	f := w.Health().Forgotten
	assert.Equal(t, []string{"back", "gone", "late"}, f.Missing)
	assert.InDelta(t, 1500*time.Millisecond, f.Until.Sub(f.Since), float64(10*time.Millisecond))
	assert.Equal(t, 3.0, gaugeValue(t, m, "pixiu_registry_forgotten_services"))

	// "back" is listed again, first without instances, then with them.
	src.set("back")
	time.Sleep(300 * time.Millisecond)
	src.set("back", endpointInst("10.0.0.1", "back", "name", "v2"))
	require.Eventually(t, func() bool { e := r.endpoint("chat/back"); return e != nil && e.Name == "v2" }, waitFor, tick)
	assert.Less(t, time.Since(began), 1500*time.Millisecond, "applied at once, not after the grace")
	assert.Equal(t, 3, r.count(), "nothing removed meanwhile")
	require.Eventually(t, func() bool { return gaugeValue(t, m, "pixiu_registry_forgotten_services") == 2 }, waitFor, tick)

	src.set("late", endpointInst("10.0.0.2", "late"))
	require.Eventually(t, func() bool { f := w.Health().Forgotten; return f != nil && len(f.Missing) == 1 }, waitFor, tick)
	assert.Equal(t, 3, r.count())

	// "gone" never comes back: removed once the grace is over.
	require.Eventually(t, func() bool { return r.endpoint("chat/gone") == nil }, waitFor, tick)
	assert.GreaterOrEqual(t, time.Since(began), 1400*time.Millisecond)
	require.Eventually(t, func() bool { return w.Health().Forgotten == nil }, waitFor, tick)
	assert.Equal(t, 0.0, gaugeValue(t, m, "pixiu_registry_forgotten_services"))
	assert.Equal(t, []string{"delete chat/gone"}, onlyDeletes(r.take()))
	assert.Equal(t, 1, strings.Count(logs.String(), "lists none of the services"), "logged once:\n%s", logs.String())
	assert.Equal(t, 2, r.count())
}

// Every service back before the grace ends the state without removing anything.
func TestWatchForgettingEndsWhenEverythingIsBack(t *testing.T) {
	var logs logcapture.Buffer
	src := newSource()
	src.set("a", endpointInst("10.0.0.1", "a"))
	w, r := startWatch(t, src, watchOpts{grace: time.Hour, logs: &logs})
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick)
	src.wipe()
	require.Eventually(t, func() bool { return w.Health().Forgotten != nil }, waitFor, tick)
	src.set("a", endpointInst("10.0.0.1", "a"))
	require.Eventually(t, func() bool { return w.Health().Forgotten == nil }, waitFor, tick)
	assert.Equal(t, 1, r.count())
	assert.Contains(t, logs.String(), "lists every forgotten service again")
}

// A registry that came back listing only some of its services (providers are re-registering
// one by one): the services it no longer lists and whose lists are empty are kept; a listed
// service whose last instance leaves is still removed within seconds.
func TestWatchServicesTheRegistryNoLongerListsAreKept(t *testing.T) {
	var logs logcapture.Buffer
	src := newSource()
	src.set("a", endpointInst("10.0.0.1", "a"))
	src.set("b", endpointInst("10.0.0.2", "b"))
	src.set("c", endpointInst("10.0.0.3", "c"))
	w, r := startWatch(t, src, watchOpts{grace: time.Hour, confirm: 100 * time.Millisecond, logs: &logs})
	require.Eventually(t, func() bool { return r.count() == 3 }, waitFor, tick)
	src.wipe()
	src.set("a", endpointInst("10.0.0.1", "a")) // re-registered already
	src.set("c")                                // listed, its last instance left
	require.Eventually(t, func() bool { return r.endpoint("chat/c") == nil }, waitFor, tick, "a listed service that emptied goes")
	time.Sleep(300 * time.Millisecond)
	assert.NotNil(t, r.endpoint("chat/b"), "b is kept for the grace period")
	require.NotNil(t, w.Health().Forgotten)
	assert.Equal(t, []string{"b"}, w.Health().Forgotten.Missing)
	assert.Equal(t, 1, strings.Count(logs.String(), "no longer lists services that have endpoints"), logs.String())
}

// A service missing from one listing (some registries skip services between pages) while the
// others stay is read anyway: it stays while its own list is not empty; once unlisted and empty
// it is kept for the grace period, then goes with its watch.
func TestWatchServiceMissingFromTheListing(t *testing.T) {
	src := newSource()
	src.set("stays", endpointInst("10.0.0.1", "stays"))
	src.set("skipped", endpointInst("10.0.0.2", "skipped"))
	w, r := startWatch(t, src, watchOpts{confirm: 100 * time.Millisecond, grace: 500 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 2 }, waitFor, tick)
	src.mu.Lock()
	src.unlisted["skipped"] = src.instances["skipped"]
	delete(src.instances, "skipped")
	src.mu.Unlock()
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, 2, r.count(), "not listed, but its own list still has the instance")
	assert.Nil(t, w.Health().Forgotten, "the others are listed: nothing was forgotten")

	src.mu.Lock()
	delete(src.unlisted, "skipped")
	src.mu.Unlock()
	require.Eventually(t, func() bool { return w.Health().Forgotten != nil }, waitFor, tick,
		"unlisted and empty: the registry forgot it")
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick, "removed once the grace is over")
	require.Eventually(t, func() bool { return len(w.Health().Services) == 1 }, waitFor, tick, "its watch ends")
}

func TestWatchUnreachableKeepsEverythingAndLogsOnce(t *testing.T) {
	var logs logcapture.Buffer
	m := metrics.New()
	src := newSource()
	src.set("ds", endpointInst("10.0.0.1", "a"))
	w, r := startWatch(t, src, watchOpts{logs: &logs, metrics: m})
	require.Eventually(t, func() bool { return r.count() == 1 && w.Health().Reachable }, waitFor, tick)
	src.mu.Lock()
	src.listErr = errors.New("connection refused")
	src.mu.Unlock()
	require.Eventually(t, func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.lists >= 5 }, waitFor, tick)
	h := w.Health()
	assert.False(t, h.Reachable)
	assert.Contains(t, h.LastError, "connection refused")
	assert.Equal(t, 1, r.count())
	src.set("ds")
	src.mu.Lock()
	src.listErr = nil
	src.mu.Unlock()
	require.Eventually(t, func() bool { return r.count() == 0 && w.Health().Reachable }, waitFor, tick)
	assert.Equal(t, 1, strings.Count(logs.String(), "registry unavailable"))
	assert.Equal(t, 1, strings.Count(logs.String(), "registry available again"))
}

func TestWatchOneFailingReadKeepsItsEndpoints(t *testing.T) {
	src := newSource()
	src.set("ok", endpointInst("10.0.0.1", "ok"))
	src.set("flaky", endpointInst("10.0.0.2", "flaky"))
	w, r := startWatch(t, src, watchOpts{})
	require.Eventually(t, func() bool { return r.count() == 2 }, waitFor, tick)
	src.mu.Lock()
	src.readErr["flaky"] = errors.New("timeout")
	src.mu.Unlock()
	src.set("flaky")
	src.set("ok", endpointInst("10.0.0.1", "ok", "name", "renamed"))
	require.Eventually(t, func() bool { e := r.endpoint("chat/ok"); return e != nil && e.Name == "renamed" }, waitFor, tick)
	assert.NotNil(t, r.endpoint("chat/flaky"))
	require.Eventually(t, func() bool { return strings.Contains(w.Health().LastError, `"flaky"`) }, waitFor, tick)
}

// A slow registry makes a pass end at its deadline; passes never overlap and the services not
// read are read first next time.
func TestWatchPassDeadline(t *testing.T) {
	src := newSource()
	for i := range 40 {
		src.set(fmt.Sprintf("svc-%02d", i), endpointInst(fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("ep-%02d", i)))
	}
	src.readDelay = 60 * time.Millisecond
	// 40 reads, 8 at a time, 60ms each: 300ms; a pass may take 200ms.
	w, r := startWatch(t, src, watchOpts{interval: 100 * time.Millisecond, deadline: 200 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 40 }, waitFor, tick, "every service is read over two passes")
	assert.Contains(t, w.Health().LastError, "pass not finished")
}

func TestWatchStopIsIdempotentAndClosesTheSource(t *testing.T) {
	src := newSource()
	w := base.NewWatch(base.WatchConfig{Name: "x"}, src, registry.Env{Name: "x", Logger: slog.New(slog.DiscardHandler)})
	w.Stop()
	w.Stop()
	w.Start(newRecorder()) // after Stop: nothing
	assert.True(t, src.closed)

	src = newSource()
	w, _ = startWatch(t, src, watchOpts{})
	w.Stop()
	w.Stop()
	assert.True(t, src.closed)
}

// pushSource delivers instance lists as pushes.
type pushSource struct {
	*fakeSource
	mu   sync.Mutex
	subs map[string]func([]registry.Instance)
	// unsubscribed counts Unsubscribe calls per service.
	unsubscribed map[string]int
}

// Subscribe delivers the service's current list first, as a Nacos subscription's answer does.
func (p *pushSource) Subscribe(service string, push func([]registry.Instance)) error {
	p.mu.Lock()
	p.subs[service] = push
	p.mu.Unlock()
	p.fakeSource.mu.Lock()
	current := append([]registry.Instance(nil), p.fakeSource.instances[service]...)
	p.fakeSource.mu.Unlock()
	push(current)
	return nil
}

func (p *pushSource) Unsubscribe(service string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.subs, service)
	p.unsubscribed[service]++
	return nil
}

func (p *pushSource) push(service string, in ...registry.Instance) {
	p.fakeSource.set(service, in...)
	p.mu.Lock()
	fn := p.subs[service]
	p.mu.Unlock()
	if fn != nil {
		fn(in)
	}
}

// With a push transport, a pass reads the service list and only services it has no push for;
// pushes are applied at once, and an empty push is confirmed by a read.
func TestWatchPushSource(t *testing.T) {
	src := &pushSource{fakeSource: newSource(), subs: map[string]func([]registry.Instance){}, unsubscribed: map[string]int{}}
	src.set("svc", endpointInst("10.0.0.1", "a"))
	w, r := startWatch(t, src, watchOpts{interval: time.Hour, confirm: 100 * time.Millisecond})
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, tick)
	assert.Zero(t, src.readsOf("svc"), "the subscription brought the first list: no read")

	src.push("svc", endpointInst("10.0.0.1", "a", "name", "pushed"))
	require.Eventually(t, func() bool { e := r.endpoint("chat/a"); return e != nil && e.Name == "pushed" }, waitFor, tick)
	src.push("svc")
	require.Eventually(t, func() bool { return r.count() == 0 }, waitFor, tick)
	assert.Equal(t, 1, src.readsOf("svc"), "the empty push was confirmed by one read")
	w.Stop()
	assert.True(t, src.closed, "Stop closes the source, which ends its subscriptions")
	assert.Empty(t, src.unsubscribed, "no round trip per service on Stop")
	src.set("svc", endpointInst("10.0.0.9", "late"))
	src.push("svc", endpointInst("10.0.0.9", "late"))
	assert.Nil(t, r.endpoint("chat/late"), "a push after Stop is not applied")
}

func onlyDeletes(events []string) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(e, "delete") {
			out = append(out, e)
		}
	}
	return out
}

func gaugeValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	return metricstest.Gather(t, m.Registry).Value(t, name, nil)
}
