package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/proc"
	"github.com/pixiu-llm/gateway/internal/bench/registryproxy"
)

// ScaleConfig shapes the scale benchmark.
type ScaleConfig struct {
	Services, PerService int
	// SteadyWindow is how long registry calls are counted once the gateway is in sync and
	// Settle has passed: over gRPC the server answers every new subscription with a push of its
	// own, which trails the sync by a second or more and is not steady-state traffic.
	SteadyWindow, Settle time.Duration
	// SyncDeadline bounds the wait for the full sync; so does SyncStall, once 99% of the
	// instances are routed, when the count stops growing for that long.
	SyncDeadline, SyncStall time.Duration
	TargetPort              int
	FirstPort               int
}

// ScaleResult is what the scale benchmark measured.
type ScaleResult struct {
	Services, Instances int
	// Register is how long registering every instance took (the registry's speed, for context).
	Register time.Duration
	// Sync runs from starting the gateway process until its admin API showed every endpoint
	// (polled every syncPoll), zero if that never happened; Sync99 until it showed 99% of them.
	// SyncCPU and Sync99CPU are the gateway's CPU time until then.
	Sync, Sync99       time.Duration
	SyncCPU, Sync99CPU time.Duration
	// Routed is the number of endpoints the gateway routed at the end; Healthy the number of
	// instances the registry itself then reported healthy and enabled (-1: not counted).
	Routed, Healthy int
	// RegistrySyncCPU is the registry server's CPU time during the sync; -1 when unknown.
	RegistrySyncCPU time.Duration
	// SteadyCalls counts registry calls by method and path during SteadyWindow; SteadyCPU is
	// the gateway's CPU time in that window.
	SteadyWindow time.Duration
	SteadyCalls  map[string]int64
	SteadyTotal  int64
	SteadyCPU    time.Duration
	PeakRSS      int64
	RSS          int64
}

// CallsPerMinute is the steady-state registry call rate.
func (r *ScaleResult) CallsPerMinute() float64 {
	if r.SteadyWindow <= 0 {
		return 0
	}
	return float64(r.SteadyTotal) / r.SteadyWindow.Minutes()
}

// syncPoll is how often the sync is polled: its resolution.
const syncPoll = 100 * time.Millisecond

// Register puts the instances of services from..Services-1 (PerService each) into reg's group
// and returns how long it took; a larger scale step registers only what the previous one did
// not. They stay for as long as the registrar beats for them.
func (c ScaleConfig) Register(ctx context.Context, reg *Registrar, runID string, from int) (time.Duration, error) {
	instances := make([]Instance, 0, (c.Services-from)*c.PerService)
	for s := from; s < c.Services; s++ {
		svc := c.serviceName(runID, s)
		for i := range c.PerService {
			instances = append(instances, Instance{
				Service: svc, Port: uint64(c.FirstPort + i), Cluster: fmt.Sprintf("scale-%04d", s),
				ID: fmt.Sprintf("scale-%04d-%d", s, i), TargetPort: c.TargetPort,
			})
		}
	}
	began := time.Now()
	// Polaris batches registrations (about 32ms per batch), so throughput needs many in flight.
	if err := registerAll(ctx, reg, instances, 128); err != nil {
		return 0, err
	}
	return time.Since(began), nil
}

// CallCounter counts the registry calls a gateway made, by kind.
type CallCounter interface{ Counts() map[string]int64 }

// MeasureSync starts a gateway with start (which must send its registry calls through proxy),
// times its full sync by polling count (the endpoints it routes from the registry), then counts
// registry calls and CPU over the steady window. registryCPU reads the registry server's CPU
// time (-1: unknown). The caller stops the returned gateway. Falling short of every instance
// (the registry may report some unhealthy under heartbeat load) is an error only below 99%.
func (c ScaleConfig) MeasureSync(ctx context.Context, start func() (*gatewayproc.Gateway, error), count func(context.Context) (int, error), proxy CallCounter, registryCPU func() time.Duration) (*ScaleResult, *gatewayproc.Gateway, error) {
	res := &ScaleResult{Services: c.Services, Instances: c.Services * c.PerService, SteadyWindow: c.SteadyWindow, RegistrySyncCPU: -1, Healthy: -1}
	regBefore := registryCPU()
	began := time.Now()
	gw, err := start()
	if err != nil {
		return nil, nil, err
	}
	c.pollSync(ctx, res, gw, count, began)
	if res.Sync99 == 0 {
		return res, gw, fmt.Errorf("full sync of %d instances: %d routed after %v", res.Instances, max(res.Routed, 0), time.Since(began).Round(time.Second))
	}
	if regAfter := registryCPU(); regBefore >= 0 && regAfter >= 0 {
		res.RegistrySyncCPU = regAfter - regBefore
	}
	u, err := gw.Usage()
	if err != nil {
		return res, gw, err
	}
	res.SyncCPU = u.CPU
	if err := c.measureSteady(ctx, res, gw, proxy, u); err != nil {
		return res, gw, err
	}
	if n, err := count(ctx); err == nil {
		res.Routed = n
	}
	return res, gw, nil
}

// pollSync polls count until the gateway routes every instance, the deadline passes, or (past
// 99%) the count stops growing for SyncStall, and records the times and the count reached.
func (c ScaleConfig) pollSync(ctx context.Context, res *ScaleResult, gw *gatewayproc.Gateway, count func(context.Context) (int, error), began time.Time) {
	want99 := (res.Instances*99 + 99) / 100
	deadline := began.Add(c.SyncDeadline)
	lastGrowth, last := began, -1
	defer func() { res.Routed = last }()
	for {
		n, err := count(ctx)
		now := time.Now()
		if err == nil {
			if n != last {
				lastGrowth, last = now, n
			}
			if n >= want99 && res.Sync99 == 0 {
				res.Sync99 = now.Sub(began)
				if u, err := gw.Usage(); err == nil {
					res.Sync99CPU = u.CPU
				}
			}
			if n >= res.Instances {
				res.Sync = now.Sub(began)
				return
			}
		}
		if now.After(deadline) || (res.Sync99 > 0 && now.Sub(lastGrowth) > c.SyncStall) || ctx.Err() != nil {
			return
		}
		time.Sleep(syncPoll)
	}
}

// measureSteady waits Settle, then counts the registry calls at proxy and the gateway's CPU over
// SteadyWindow.
func (c ScaleConfig) measureSteady(ctx context.Context, res *ScaleResult, gw *gatewayproc.Gateway, proxy CallCounter, synced proc.Usage) error {
	if err := sleep(ctx, c.Settle); err != nil {
		return err
	}
	if u, err := gw.Usage(); err == nil {
		synced = u
	}
	callsBefore := proxy.Counts()
	if err := sleep(ctx, c.SteadyWindow); err != nil {
		return err
	}
	callsAfter := proxy.Counts()
	res.SteadyCalls = map[string]int64{}
	for k, v := range callsAfter {
		if d := v - callsBefore[k]; d > 0 {
			res.SteadyCalls[k] = d
			res.SteadyTotal += d
		}
	}
	u, err := gw.Usage()
	if err != nil {
		return err
	}
	res.SteadyCPU = u.CPU - synced.CPU
	res.PeakRSS, res.RSS = u.PeakRSS, u.RSS
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoutedFromRegistry counts the endpoints the gateway routes from its registry adapter, from
// the pixiu_cluster_endpoints gauges of its metrics endpoint at metricsAddr: much cheaper for
// the gateway to answer than the admin API's full cluster listing.
func RoutedFromRegistry(metricsAddr string) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		n, err := metricSum(ctx, metricsAddr, "pixiu_cluster_endpoints", `source="`+gatewayproc.AdapterID+`"`)
		return int(n), err
	}
}

// HealthyInRegistry counts the instances of the scale services that the registry at nacosAddr
// (queried directly, not through the proxy) reports healthy and enabled.
func (c ScaleConfig) HealthyInRegistry(ctx context.Context, nacosAddr, group, runID string) (int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	var total atomic.Int64
	var firstErr error
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for svc := range jobs {
				n, err := healthyInstances(ctx, client, nacosAddr, group+"@@"+svc)
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					continue
				}
				total.Add(int64(n))
			}
		})
	}
	for s := range c.Services {
		select {
		case jobs <- c.serviceName(runID, s):
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return int(total.Load()), cmp.Or(firstErr, ctx.Err())
}

func (c ScaleConfig) serviceName(runID string, s int) string {
	return fmt.Sprintf("bench-%s-scale-%04d", runID, s)
}

func healthyInstances(ctx context.Context, client *http.Client, nacosAddr, service string) (int, error) {
	q := url.Values{"serviceName": {service}, "namespaceId": {Namespace}, "healthyOnly": {"false"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nacosAddr+registryproxy.PathInstanceList+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("instance list of %s: status %d", service, resp.StatusCode)
	}
	var list struct {
		Hosts []struct {
			Healthy bool `json:"healthy"`
			Enabled bool `json:"enabled"`
		} `json:"hosts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, fmt.Errorf("instance list of %s: %w", service, err)
	}
	n := 0
	for _, h := range list.Hosts {
		if h.Healthy && h.Enabled {
			n++
		}
	}
	return n, nil
}
