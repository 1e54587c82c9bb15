// Package nacos watches a Nacos naming service (1.x HTTP API, nacos-sdk-go v1) for LLM
// instances and feeds them to the adapter as endpoint events.
//
// How it watches, and why:
//   - The service list of the group is read with a large page size every refresh interval; a
//     page shorter than asked for, or padded with empty names (Polaris), ends the list.
//   - Every listed service is subscribed. A push only marks the service for a re-read: the
//     instance list is then read from the server, bypassing the SDK cache. Every watched
//     service is also re-read each interval, because no push arrives when the last instance of
//     a service leaves.
//   - A service missing from one listing is only dropped once its own instance list is empty;
//     it is then unsubscribed with the same *SubscribeParam it was subscribed with.
//   - While the registry fails, every known endpoint stays; reads are retried with backoff.
package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
)

// Protocol is the registry protocol this package registers.
const Protocol = "nacos"

// EnvAddress overrides the address of every nacos registry when set.
const EnvAddress = "NACOS_ADDRESS"

const (
	// maxPages bounds one listing whatever the server answers.
	maxPages = 1000
	// readConcurrency bounds the registry calls (subscriptions, instance-list reads) in flight per registry.
	readConcurrency = 8
	maxBackoff      = 30 * time.Second
)

func init() {
	registry.Register(Protocol, New)
}

// settings is the validated config.
type settings struct {
	registry.Config
	servers []constant.ServerConfig
}

// Registry watches one Nacos group of one namespace.
type Registry struct {
	name    string
	cfg     settings
	env     registry.Env
	logger  *slog.Logger
	connect func(ctx context.Context) (namingClient, error)

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}

	// Owned by the watch goroutine.
	client  namingClient
	tracker *base.Tracker
	subs    map[string]*vo.SubscribeParam

	wake    chan struct{}
	dirtyMu sync.Mutex
	dirty   map[string]bool

	mu       sync.Mutex
	health   registry.Health
	stateSet bool // false until the first read succeeded or failed
}

// New is the nacos factory: it validates the config (after applying NACOS_ADDRESS) and starts
// nothing.
func New(cfg registry.Config, env registry.Env) (registry.Registry, error) {
	cfg = cfg.WithDefaults()
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("registry", env.Name)
	if addr := os.Getenv(EnvAddress); addr != "" {
		logger.Info("registry address taken from the environment", "env", EnvAddress, "address", addr)
		cfg.Address = addr
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	servers, err := ParseAddresses(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		cfg.Group = constant.DEFAULT_GROUP
	}
	if cfg.Timeout < time.Millisecond {
		return nil, fmt.Errorf("timeout %v is below 1ms", cfg.Timeout)
	}
	s := settings{Config: cfg, servers: servers}
	r := &Registry{
		name:   env.Name,
		cfg:    s,
		env:    env,
		logger: logger,
		subs:   map[string]*vo.SubscribeParam{},
		wake:   make(chan struct{}, 1),
		dirty:  map[string]bool{},
		done:   make(chan struct{}),
	}
	r.health.Address = cfg.Address
	r.connect = func(ctx context.Context) (namingClient, error) { return newSDKClient(ctx, env.Name, s) }
	return r, nil
}

// Start begins the watch in the background.
func (r *Registry) Start(l registry.Listener) {
	r.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		r.mu.Lock()
		r.cancel = cancel
		r.mu.Unlock()
		r.tracker = base.New(l)
		go r.watch(ctx)
	})
}

// Stop ends the watch, unsubscribes every service and waits for the watch goroutine.
func (r *Registry) Stop() {
	r.stopOnce.Do(func() {
		r.startOnce.Do(func() { close(r.done) }) // never started: nothing to wait for
		r.mu.Lock()
		cancel := r.cancel
		r.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		<-r.done
	})
}

// Health reports the watch's state.
func (r *Registry) Health() registry.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health
	h.Services = append([]string(nil), r.health.Services...)
	return h
}

func (r *Registry) watch(ctx context.Context) {
	defer close(r.done)
	defer r.shutdown()

	backoff := newBackoff(r.cfg.RefreshInterval)
	for {
		wait := r.cfg.RefreshInterval
		unreachable, err := r.fullSync(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			r.synced()
			backoff.reset()
		default:
			r.failed(err)
			if unreachable {
				wait = backoff.next()
			}
		}

		timer := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
				break waiting
			case <-r.wake:
				// A failed re-read is counted; the next full read retries it and owns the
				// available/unavailable state.
				if err := r.syncServices(ctx, r.takeDirty(), nil); err != nil && ctx.Err() == nil {
					r.env.Metrics.RegistryError(r.name)
					r.logger.Debug("re-read after a push failed", "error", err.Error())
				}
			}
		}
	}
}

// fullSync lists the services, subscribes new ones, and re-reads every watched service. It
// reports unreachable when the registry could not be listed at all; failures of single services
// do not stop the others from being read.
func (r *Registry) fullSync(ctx context.Context) (unreachable bool, err error) {
	if r.client == nil {
		c, err := r.connect(ctx)
		if err != nil {
			return true, err
		}
		r.client = c
	}
	names, err := r.listServices(ctx)
	if err != nil {
		return true, err
	}
	var errs []error
	listed := make(map[string]bool, len(names))
	var fresh []string
	for _, name := range names {
		listed[name] = true
		if r.subs[name] == nil {
			fresh = append(fresh, name)
		}
	}
	if err := r.subscribeAll(ctx, fresh); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		errs = append(errs, err) // tried again on the next full read
	}
	services := make([]string, 0, len(r.subs))
	for name := range r.subs {
		services = append(services, name)
	}
	if err := r.syncServices(ctx, services, listed); err != nil {
		errs = append(errs, err)
	}
	return false, errors.Join(errs...)
}

// listServices reads every page of the group's service list. Names are deduplicated: the
// server's order may change between pages.
func (r *Registry) listServices(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	pageSize := r.cfg.PageSize
	for page := 1; page <= maxPages; page++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		list, err := r.client.GetAllServicesInfo(vo.GetAllServiceInfoParam{
			NameSpace: r.cfg.Namespace, GroupName: r.cfg.Group, PageNo: uint32(page), PageSize: uint32(pageSize),
		})
		if err != nil {
			return nil, fmt.Errorf("list services of group %q (page %d): %w", r.cfg.Group, page, err)
		}
		padded := false
		for _, name := range list.Doms {
			if name == "" {
				padded = true
				continue
			}
			if strings.Contains(name, constant.SERVICE_INFO_SPLITER) {
				continue // not a service name of this group
			}
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		if padded || len(list.Doms) < pageSize || (list.Count > 0 && int64(page)*int64(pageSize) >= list.Count) {
			break
		}
	}
	sort.Strings(names)
	return names, nil
}

// subscribeAll subscribes to services, several at a time: each Subscribe is a registry round
// trip, and a gateway starting against a thousand services should not make them one by one.
func (r *Registry) subscribeAll(ctx context.Context, services []string) error {
	if len(services) == 0 {
		return nil
	}
	params := make([]*vo.SubscribeParam, len(services))
	errs := make([]error, len(services))
	forEach(ctx, len(services), func(i int) {
		params[i], errs[i] = r.subscribe(services[i])
	})
	for i, service := range services {
		if errs[i] == nil && params[i] != nil {
			r.subs[service] = params[i]
			r.logger.Debug("subscribed", "service", service, "group", r.cfg.Group)
		}
	}
	r.publishServices()
	return errors.Join(errs...)
}

// subscribe makes one subscription; it touches no state of the watch, so that several can run at once.
func (r *Registry) subscribe(service string) (*vo.SubscribeParam, error) {
	param := &vo.SubscribeParam{
		ServiceName: service,
		GroupName:   r.cfg.Group,
		// A push only says "this service changed"; the list is read fresh from the server.
		SubscribeCallback: func([]model.SubscribeService, error) { r.markDirty(service) },
	}
	if err := r.client.Subscribe(param); err != nil {
		// The SDK registers the callback before it fails; drop it, or it would leak.
		_ = r.client.Unsubscribe(param)
		return nil, fmt.Errorf("subscribe to service %q: %w", service, err)
	}
	return param, nil
}

func (r *Registry) unsubscribe(service string) {
	if param := r.subs[service]; param != nil {
		_ = r.client.Unsubscribe(param)
		delete(r.subs, service)
		r.publishServices()
		r.logger.Debug("unsubscribed", "service", service, "group", r.cfg.Group)
	}
}

type readResult struct {
	instances []model.Instance
	err       error
}

// syncServices reads the instance lists of services and hands them to the tracker. When listed
// is given (a full sync), a service absent from it whose instance list is empty has left the
// registry: its endpoints go and it is unsubscribed. A failed read keeps what is known.
func (r *Registry) syncServices(ctx context.Context, services []string, listed map[string]bool) error {
	if len(services) == 0 {
		return nil
	}
	sort.Strings(services)
	r.clearDirty(services)
	results := make([]readResult, len(services))
	forEach(ctx, len(services), func(i int) {
		hosts, err := r.client.QueryInstances(services[i], r.cfg.Group)
		results[i] = readResult{instances: hosts, err: err}
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}

	var errs []error
	for i, service := range services {
		res := results[i]
		if res.err != nil {
			errs = append(errs, fmt.Errorf("read instances of service %q: %w", service, res.err))
			continue
		}
		if r.subs[service] == nil {
			continue // dropped while the read was in flight
		}
		if listed != nil && !listed[service] && len(res.instances) == 0 {
			r.tracker.Forget(service)
			r.unsubscribe(service)
			continue
		}
		r.tracker.Sync(service, r.toInstances(service, res.instances))
	}
	return errors.Join(errs...)
}

// forEach calls fn for 0..n-1 on up to readConcurrency goroutines and returns when every call
// it started has returned; once ctx ends it starts no more.
func forEach(ctx context.Context, n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(readConcurrency, n); w++ {
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

func (r *Registry) toInstances(service string, hosts []model.Instance) []registry.Instance {
	out := make([]registry.Instance, 0, len(hosts))
	for _, h := range hosts {
		port := int(h.Port)
		if h.Port > 65535 {
			port = -1 // reported as an unusable port, never wrapped into a valid one
		}
		out = append(out, registry.Instance{
			Service: service, Group: r.cfg.Group, InstanceID: h.InstanceId, IP: h.Ip, Port: port,
			Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enable, Ephemeral: h.Ephemeral, Metadata: h.Metadata,
		})
	}
	return out
}

func (r *Registry) markDirty(service string) {
	r.dirtyMu.Lock()
	r.dirty[service] = true
	r.dirtyMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Registry) takeDirty() []string {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	out := make([]string, 0, len(r.dirty))
	for s := range r.dirty {
		if r.subs[s] != nil {
			out = append(out, s)
		}
	}
	clear(r.dirty)
	return out
}

// clearDirty forgets pending pushes for services about to be read; a push arriving during the
// read marks them again.
func (r *Registry) clearDirty(services []string) {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	for _, s := range services {
		delete(r.dirty, s)
	}
}

// shutdown runs when the watch ends: no more deliveries, every subscription dropped with the
// param it was made with, the client closed.
func (r *Registry) shutdown() {
	if r.tracker != nil {
		r.tracker.Close()
	}
	if r.client == nil {
		return
	}
	for service := range r.subs {
		r.unsubscribe(service)
	}
	r.client.Close()
}

func (r *Registry) publishServices() {
	services := make([]string, 0, len(r.subs))
	for s := range r.subs {
		services = append(services, s)
	}
	sort.Strings(services)
	r.mu.Lock()
	r.health.Services = services
	r.mu.Unlock()
}

// failed records a failed full read; it logs only when the registry was available before.
func (r *Registry) failed(err error) {
	r.env.Metrics.RegistryError(r.name)
	r.mu.Lock()
	wasUp, first := r.health.Reachable, !r.stateSet
	r.health.Reachable, r.health.LastError, r.stateSet = false, err.Error(), true
	r.mu.Unlock()
	if wasUp || first {
		r.logger.Warn("registry unavailable; keeping every known endpoint and retrying", "error", err.Error())
	}
}

// synced records a complete, successful read of the registry; it logs when the registry was
// failing before.
func (r *Registry) synced() {
	now := time.Now()
	r.mu.Lock()
	wasUp, first := r.health.Reachable, !r.stateSet
	r.health.Reachable, r.health.LastError, r.health.LastSync, r.stateSet = true, "", now, true
	r.mu.Unlock()
	r.env.Metrics.RegistrySynced(r.name, now)
	switch {
	case first:
		r.logger.Info("registry connected", "address", r.cfg.Address, "group", r.cfg.Group, "namespace", r.cfg.Namespace)
	case !wasUp:
		r.logger.Info("registry available again")
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
