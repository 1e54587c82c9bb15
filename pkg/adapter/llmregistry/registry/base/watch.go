package base

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// Source is a registry transport as the Watch sees it: two reads. It holds no state the watch
// depends on and opens no listening socket.
type Source interface {
	// ListServices returns every service of the watched group and namespace, each name once.
	// An error means the listing failed as a whole (nothing is concluded from it).
	ListServices(ctx context.Context) ([]string, error)
	// ReadInstances returns the complete instance list of one service, every instance whatever
	// its health. An empty list without error means the registry lists no instance of it.
	ReadInstances(ctx context.Context, service string) ([]registry.Instance, error)
	// Close ends calls in flight and releases the transport.
	Close()
}

// PushSource is a Source that also delivers the instance list of a subscribed service whenever
// it changes (a gRPC subscription, say). The watch then reads instance lists only of services it
// could not subscribe to, of services missing from the listing, and to confirm an empty list;
// pushes carry the rest, and each push is applied as one batch like a read. A pushed empty list
// is confirmed by a read like any other.
type PushSource interface {
	Source
	// Subscribe starts pushes of service, the first one with its current instance list (the
	// watch does not read a service it subscribed to); push may be called from any goroutine,
	// must not be called after Unsubscribe returned, and must not block.
	Subscribe(service string, push func(instances []registry.Instance)) error
	// Unsubscribe ends the pushes of service, with the same parameters it was subscribed with.
	// Close ends every subscription at once: the watch does not unsubscribe when it stops.
	Unsubscribe(service string) error
}

// WatchConfig shapes a Watch. Zero values take the defaults noted.
type WatchConfig struct {
	// Name is the registry's name, for logs, metrics and errors.
	Name string
	// RefreshInterval is the time between the starts of two passes.
	RefreshInterval time.Duration
	// Timeout bounds one registry call; a pass is bounded by PassDeadline.
	Timeout time.Duration
	// PassDeadline bounds a whole pass (default max(2×RefreshInterval, 2×Timeout)): a slow
	// registry delays passes, it never makes them pile up.
	PassDeadline time.Duration
	// Concurrency bounds the reads in flight (default 8).
	Concurrency int
	// ForgetGrace is how long endpoints of forgotten services stay (default 60 s).
	ForgetGrace time.Duration
	// ConfirmDelay is how long after an empty instance list the confirming read is made
	// (default 2 s).
	ConfirmDelay time.Duration
	// Describe is added to the "registry connected" log line (address, group, ...).
	Describe []any
}

// Defaults of WatchConfig.
const (
	DefaultConcurrency  = 8
	DefaultConfirmDelay = 2 * time.Second
	maxBackoff          = 30 * time.Second
)

func (c WatchConfig) withDefaults() WatchConfig {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = registry.DefaultRefreshInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = registry.DefaultTimeout
	}
	if c.PassDeadline <= 0 {
		c.PassDeadline = max(2*c.RefreshInterval, 2*c.Timeout)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ForgetGrace <= 0 {
		c.ForgetGrace = registry.DefaultForgetGrace
	}
	if c.ConfirmDelay <= 0 {
		c.ConfirmDelay = DefaultConfirmDelay
	}
	return c
}

// Watch keeps a registry's endpoints in the gateway by reading it. It implements
// registry.Watcher. Every pass reads the service list once and the instance list of every
// watched service once, with bounded concurrency and an overall deadline, and applies the
// whole pass as one batch (one snapshot per changed cluster).
//
// Rules, in the order they are applied:
//   - The listing failed: keep everything, retry with backoff, log once per state change.
//   - Every watched service is read, listed or not (listings of some registries skip services
//     between pages): a service's own instance list decides, never the listing alone.
//   - A service with endpoints that the listing no longer names and whose own list is empty
//     was forgotten by the registry (a restart without its data lists none of the services it
//     listed before), not left by its providers: a registry keeps listing a service whose last
//     instance left. Its endpoints stay routed; what reappears is applied at once; what is
//     still missing after ForgetGrace is removed. Logged once, in Health and a metric.
//   - An empty instance list never removes endpoints by itself: a second read of the service
//     is made ConfirmDelay later (scheduled at once) and only an empty answer again removes
//     them. A non-empty answer in between cancels the removal.
type Watch struct {
	cfg    WatchConfig
	src    Source
	push   PushSource // src as a PushSource, or nil
	env    registry.Env
	logger *slog.Logger

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}

	// Owned by the watch goroutine.
	tracker   *Tracker
	listener  registry.Listener
	services  map[string]*watchedService
	forgotten *forgetting

	pushMu  sync.Mutex
	pushed  map[string][]registry.Instance // latest push per service, not applied yet
	wake    chan struct{}
	closing bool // no more pushes are taken

	mu       sync.Mutex
	health   registry.Health
	stateSet bool // false until the first pass succeeded or failed
}

type watchedService struct {
	listed     bool      // in the last successful listing
	lastRead   time.Time // last successful read of its instances
	confirmAt  time.Time // when an empty list must be read again; zero if none pending
	subscribed bool      // PushSource only
}

// forgetting is the state of a registry that stopped listing services it listed before.
type forgetting struct {
	since, until time.Time
	missing      map[string]bool // services kept although the registry does not list them
	logged       bool
}

// NewWatch returns a watch of src; nothing starts before Start.
func NewWatch(cfg WatchConfig, src Source, env registry.Env) *Watch {
	cfg = cfg.withDefaults()
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	w := &Watch{
		cfg: cfg, src: src, env: env, logger: logger,
		done:     make(chan struct{}),
		services: map[string]*watchedService{},
		pushed:   map[string][]registry.Instance{},
		wake:     make(chan struct{}, 1),
	}
	w.push, _ = src.(PushSource)
	return w
}

// SetAddress sets the address Health reports.
func (w *Watch) SetAddress(addr string) {
	w.mu.Lock()
	w.health.Address = addr
	w.mu.Unlock()
}

// Start begins the watch in the background; it never blocks on the registry.
func (w *Watch) Start(l registry.Listener) {
	w.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		w.cancel = cancel
		w.mu.Unlock()
		w.listener = l
		w.tracker = New(l)
		go w.run(ctx)
	})
}

// Stop ends the watch, unsubscribes and waits for every goroutine it started. Idempotent.
func (w *Watch) Stop() {
	w.stopOnce.Do(func() {
		w.startOnce.Do(func() { close(w.done); w.src.Close() }) // never started
		w.mu.Lock()
		cancel := w.cancel
		w.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		<-w.done
	})
}

// Health reports how the watch is going.
func (w *Watch) Health() registry.Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.health
	h.Services = append([]string(nil), w.health.Services...)
	if f := w.health.Forgotten; f != nil {
		cp := *f
		cp.Missing = append([]string(nil), f.Missing...)
		h.Forgotten = &cp
	}
	return h
}

func (w *Watch) run(ctx context.Context) {
	defer close(w.done)
	defer w.shutdown()

	backoff := newBackoff(w.cfg.RefreshInterval)
	next := time.Now()
	for {
		if !time.Now().Before(next) {
			began := time.Now()
			wait := w.cfg.RefreshInterval
			unreachable, err := w.pass(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				w.synced()
				backoff.reset()
			default:
				w.failed(err)
				if unreachable {
					wait = backoff.next()
				}
			}
			next = began.Add(wait)
			if unreachable || next.Before(time.Now()) {
				next = time.Now().Add(wait)
			}
		}

		wake := next
		if c := w.nextConfirm(); !c.IsZero() && c.Before(wake) {
			wake = c
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
			timer.Stop()
			w.applyPushes(ctx)
		case <-timer.C:
		}
		if due := w.dueConfirms(time.Now()); len(due) > 0 && time.Now().Before(next) {
			w.confirm(ctx, due)
		}
	}
}

// readResult is one instance-list read.
type readResult struct {
	service   string
	instances []registry.Instance
	err       error
	at        time.Time
}

// pass lists the services and reads the instance lists it needs, then applies them as one
// batch. unreachable is set when the listing itself failed.
func (w *Watch) pass(ctx context.Context) (unreachable bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.PassDeadline)
	defer cancel()
	names, err := w.src.ListServices(ctx)
	if err != nil {
		return true, err
	}
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
	}
	knownListed := 0
	for name := range w.services {
		if listed[name] {
			knownListed++
		}
	}
	w.subscribeNew(listed)
	results := w.readAll(ctx, w.servicesToRead(listed))

	var errs []error
	w.listener.Batch(func() {
		errs = w.applyReads(results)
		w.endForgetting(time.Now())
	})
	w.reportForgetting(knownListed == 0)
	w.publishServices()
	return false, w.passError(ctx, errs)
}

// servicesToRead marks which watched services the listing names, starts watching new ones, and
// returns the services whose instance list this pass reads: with a push source, only those it
// could not subscribe to (a subscription delivers the current list first).
func (w *Watch) servicesToRead(listed map[string]bool) []string {
	var toRead []string
	for name := range listed {
		s := w.services[name]
		if s == nil {
			s = &watchedService{}
			w.services[name] = s
		}
		s.listed = true
		if w.push == nil || !s.subscribed {
			toRead = append(toRead, name)
		}
	}
	for name, s := range w.services {
		if !listed[name] {
			// Missing from this listing (some registries skip services between pages, or the
			// registry forgot it): its own instance list decides.
			s.listed = false
			toRead = append(toRead, name)
		}
	}
	return toRead
}

// applyReads applies the successful reads and returns the failed ones. Runs inside a batch.
func (w *Watch) applyReads(results []readResult) []error {
	var errs []error
	for _, res := range results {
		if res.err != nil {
			errs = append(errs, fmt.Errorf("read instances of service %q: %w", res.service, res.err))
			continue
		}
		w.applyRead(res.service, res.instances, res.at)
	}
	return errs
}

// passError joins the failed reads of a pass, saying when the pass ran out of time.
func (w *Watch) passError(ctx context.Context, errs []error) error {
	if ctx.Err() != nil && len(errs) > 0 {
		errs = append([]error{fmt.Errorf("pass not finished within %v", w.cfg.PassDeadline)}, errs...)
	}
	const shown = 5 // a slow registry can fail a thousand reads at once: keep the report short
	if len(errs) > shown+1 {
		errs = append(errs[:shown], fmt.Errorf("and %d more failed reads", len(errs)-shown))
	}
	return errors.Join(errs...)
}

// endForgetting leaves the forgetting state when every missing service is back, or removes
// what is still missing once the grace period is over. Runs inside a batch.
func (w *Watch) endForgetting(now time.Time) {
	f := w.forgotten
	if f == nil {
		return
	}
	if len(f.missing) > 0 && now.Before(f.until) {
		w.publishForgotten()
		return
	}
	if len(f.missing) == 0 {
		w.logger.Info("the registry lists every forgotten service again", "after", now.Sub(f.since).Round(time.Millisecond).String())
	} else {
		gone := slices.Sorted(maps.Keys(f.missing))
		for _, name := range gone {
			w.drop(name)
		}
		w.logger.Warn("grace period over: removed the endpoints of services the registry still does not list",
			"services", len(gone), "grace", w.cfg.ForgetGrace.String())
	}
	w.forgotten = nil
	w.publishForgotten()
}

// applyRead applies one successful instance-list read. Runs inside a batch.
func (w *Watch) applyRead(service string, instances []registry.Instance, at time.Time) {
	s := w.services[service]
	if s == nil {
		return // dropped meanwhile
	}
	s.lastRead = at
	if len(instances) > 0 {
		s.confirmAt = time.Time{}
		if w.forgotten != nil {
			delete(w.forgotten.missing, service)
		}
		w.tracker.Sync(service, instances)
		return
	}
	if n, known := w.tracker.Instances(service); n == 0 {
		// Nothing routed from it: nothing to confirm.
		s.confirmAt = time.Time{}
		if !s.listed {
			w.drop(service)
		} else if !known {
			w.tracker.Sync(service, nil)
		}
		return
	}
	if !s.listed {
		// Not listed and no instance, yet it has endpoints: the registry forgot it (a restart
		// without its data, a replaced registry). Providers of a service do not make it vanish
		// from the list: when its last instance leaves, a registry keeps listing it empty.
		w.forget(service, at)
		return
	}
	if w.forgotten != nil && w.forgotten.missing[service] {
		return // listed again, instances not yet: kept for the grace period
	}
	switch {
	case s.confirmAt.IsZero():
		s.confirmAt = at.Add(w.cfg.ConfirmDelay)
		w.logger.Debug("empty instance list; reading it again before removing its endpoints", "service", service)
	case at.Before(s.confirmAt):
		// Not yet due: the confirming read decides.
	default:
		s.confirmAt = time.Time{}
		if s.listed {
			w.tracker.Sync(service, nil)
		} else {
			w.drop(service)
		}
	}
}

// forget keeps the endpoints of a service the registry forgot, entering the forgetting state
// when needed.
func (w *Watch) forget(service string, now time.Time) {
	s := w.services[service]
	if s != nil {
		s.confirmAt = time.Time{}
	}
	if w.forgotten == nil {
		w.forgotten = &forgetting{since: now, until: now.Add(w.cfg.ForgetGrace), missing: map[string]bool{}}
	}
	w.forgotten.missing[service] = true
}

// reportForgetting logs the forgetting state once, when it starts, and publishes it.
func (w *Watch) reportForgetting(noneListed bool) {
	f := w.forgotten
	if f == nil || f.logged {
		return
	}
	f.logged = true
	why := "the registry no longer lists services that have endpoints"
	if noneListed {
		why = "the registry lists none of the services it listed before"
	}
	w.logger.Warn(why+" (restarted without its data?); keeping their endpoints while providers register again",
		"services", len(f.missing), "grace", w.cfg.ForgetGrace.String())
	w.publishForgotten()
}

// drop removes a service the registry no longer has: its endpoints go and its watch ends.
func (w *Watch) drop(service string) {
	w.tracker.Forget(service)
	if s := w.services[service]; s != nil && s.subscribed && w.push != nil {
		if err := w.push.Unsubscribe(service); err != nil {
			w.logger.Debug("unsubscribe failed", "service", service, "error", err.Error())
		}
	}
	delete(w.services, service)
	if w.forgotten != nil {
		delete(w.forgotten.missing, service)
	}
	w.pushMu.Lock()
	delete(w.pushed, service)
	w.pushMu.Unlock()
}

func (w *Watch) nextConfirm() time.Time {
	var first time.Time
	for _, s := range w.services {
		if !s.confirmAt.IsZero() && (first.IsZero() || s.confirmAt.Before(first)) {
			first = s.confirmAt
		}
	}
	return first
}

func (w *Watch) dueConfirms(now time.Time) []string {
	var due []string
	for name, s := range w.services {
		if !s.confirmAt.IsZero() && !now.Before(s.confirmAt) {
			due = append(due, name)
		}
	}
	return due
}

// confirm reads the services whose empty list waits for confirmation and applies the reads as
// one batch. A failed read keeps the endpoints; the confirmation is tried again next pass.
func (w *Watch) confirm(ctx context.Context, services []string) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.PassDeadline)
	defer cancel()
	results := w.readAll(ctx, services)
	w.listener.Batch(func() {
		for _, res := range results {
			if res.err != nil {
				w.env.Metrics.RegistryError(w.cfg.Name)
				w.logger.Debug("confirming read failed", "service", res.service, "error", res.err.Error())
				continue
			}
			w.applyRead(res.service, res.instances, res.at)
		}
	})
	w.reportForgetting(false)
	w.publishServices()
}

// readAll reads the instance lists of services, at most Concurrency at a time, least recently
// read first (so a pass cut short by its deadline does not starve the same services twice).
func (w *Watch) readAll(ctx context.Context, services []string) []readResult {
	sort.Slice(services, func(i, j int) bool {
		a, b := w.services[services[i]], w.services[services[j]]
		if !a.lastRead.Equal(b.lastRead) {
			return a.lastRead.Before(b.lastRead)
		}
		return services[i] < services[j]
	})
	results := make([]readResult, len(services))
	forEach(ctx, w.cfg.Concurrency, len(services), func(i int) {
		in, err := w.src.ReadInstances(ctx, services[i])
		results[i] = readResult{service: services[i], instances: in, err: err, at: time.Now()}
	})
	for i := range results {
		if results[i].service == "" { // never started: the deadline came first
			results[i] = readResult{service: services[i], err: context.Cause(ctx)}
			if results[i].err == nil {
				results[i].err = context.DeadlineExceeded
			}
		}
	}
	return results
}

// forEach calls fn for 0..n-1 on up to limit goroutines and returns when every call it started
// has returned; once ctx ends it starts no more.
func forEach(ctx context.Context, limit, n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(limit, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

// subscribeNew subscribes listed services that are not yet, watching the new ones (PushSource
// only).
func (w *Watch) subscribeNew(listed map[string]bool) {
	if w.push == nil {
		return
	}
	for name := range listed {
		s := w.services[name]
		if s == nil {
			s = &watchedService{}
			w.services[name] = s
		}
		if s.subscribed {
			continue
		}
		service := name
		err := w.push.Subscribe(service, func(in []registry.Instance) { w.onPush(service, in) })
		if err != nil {
			w.logger.Debug("subscribe failed; reading it each pass until it works", "service", service, "error", err.Error())
			continue
		}
		s.subscribed = true
	}
}

func (w *Watch) onPush(service string, in []registry.Instance) {
	w.pushMu.Lock()
	if w.closing {
		w.pushMu.Unlock()
		return
	}
	w.pushed[service] = append([]registry.Instance(nil), in...)
	w.pushMu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// applyPushes applies every push received since the last time as one batch.
func (w *Watch) applyPushes(ctx context.Context) {
	w.pushMu.Lock()
	pushed := w.pushed
	w.pushed = map[string][]registry.Instance{}
	w.pushMu.Unlock()
	if len(pushed) == 0 || ctx.Err() != nil {
		return
	}
	now := time.Now()
	w.listener.Batch(func() {
		for _, service := range slices.Sorted(maps.Keys(pushed)) {
			if s := w.services[service]; s != nil && s.subscribed {
				w.applyRead(service, pushed[service], now)
			}
		}
	})
	w.reportForgetting(false)
}

// shutdown runs when the watch ends: no more deliveries, then the source closed, which ends its
// subscriptions too (one call instead of a round trip per service, which with thousands of
// services would hold up the gateway's shutdown).
func (w *Watch) shutdown() {
	w.pushMu.Lock()
	w.closing = true
	w.pushMu.Unlock()
	if w.tracker != nil {
		w.tracker.Close()
	}
	w.src.Close()
}

func (w *Watch) publishServices() {
	services := slices.Sorted(maps.Keys(w.services))
	w.mu.Lock()
	w.health.Services = services
	w.mu.Unlock()
}

func (w *Watch) publishForgotten() {
	var f *registry.Forgotten
	missing := 0
	if w.forgotten != nil {
		f = &registry.Forgotten{Since: w.forgotten.since, Until: w.forgotten.until, Missing: slices.Sorted(maps.Keys(w.forgotten.missing))}
		missing = len(f.Missing)
	}
	w.mu.Lock()
	w.health.Forgotten = f
	w.mu.Unlock()
	w.env.Metrics.RegistryForgotten(w.cfg.Name, f != nil, missing)
}

// failed records a failed pass; it logs only when the registry was available before.
func (w *Watch) failed(err error) {
	w.env.Metrics.RegistryError(w.cfg.Name)
	w.mu.Lock()
	wasUp, first := w.health.Reachable, !w.stateSet
	w.health.Reachable, w.health.LastError, w.stateSet = false, err.Error(), true
	w.mu.Unlock()
	if wasUp || first {
		w.logger.Warn("registry unavailable; keeping every known endpoint and retrying", "error", err.Error())
	}
}

// synced records a complete, successful pass; it logs when the registry was failing before.
func (w *Watch) synced() {
	now := time.Now()
	w.mu.Lock()
	wasUp, first := w.health.Reachable, !w.stateSet
	w.health.Reachable, w.health.LastError, w.health.LastSync, w.stateSet = true, "", now, true
	w.mu.Unlock()
	w.env.Metrics.RegistrySynced(w.cfg.Name, now)
	switch {
	case first:
		w.logger.Info("registry connected", w.cfg.Describe...)
	case !wasUp:
		w.logger.Info("registry available again")
	}
}

// backoff doubles the wait after each failure from min(1s, interval) up to four intervals
// (at most 30s), with jitter so that several gateways do not retry in step.
type backoff struct {
	first, max, cur time.Duration
}

func newBackoff(interval time.Duration) *backoff {
	b := &backoff{first: min(time.Second, interval), max: max(min(4*interval, maxBackoff), min(time.Second, interval))}
	b.reset()
	return b
}

func (b *backoff) reset() { b.cur = b.first }

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
	return d - d/10 + jitter
}
