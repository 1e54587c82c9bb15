package discovery

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// HotCluster is the cluster the churn benchmark serves load on while its endpoints change.
const HotCluster = "hot"

// ChurnConfig shapes the churn benchmark.
type ChurnConfig struct {
	// Services each register one instance in HotCluster; updates cycle through them.
	Services int
	// UpdatesPerSecond is the rate of metadata updates sent to the registry while churning.
	UpdatesPerSecond float64
	// Rate is the hot path's offered load (unary, open loop).
	Rate float64
	// Phase is the length of each measured phase; each of Rounds runs a quiet, a control and a
	// churning phase.
	Phase  time.Duration
	Rounds int
	// TargetPort is the stub upstream the instances point at; FirstPort the first registry port.
	TargetPort, FirstPort int
}

// ChurnResult compares the hot path in three conditions:
//   - Quiet: no registry updates;
//   - Control: the same update rate, to services in a group the gateway does not watch, so the
//     registry, the provider and the shared CPUs are as busy as while churning but the
//     gateway has nothing to apply;
//   - Churning: the updates go to the hot cluster's own endpoints, which the gateway applies.
//
// Churning against Control isolates the gateway's own cost of applying updates on a machine
// where everything shares two cores; Churning against Quiet is the whole effect.
type ChurnResult struct {
	Quiet, Control, Churning load.Result
	// QuietP99s, ControlP99s and ChurningP99s are each phase's own p99, in order: their spread
	// shows how much p99 moves between identical phases on this machine (the noise floor).
	QuietP99s, ControlP99s, ChurningP99s []time.Duration
	// Gateway and Registry are the CPU time the gateway and the registry server used in each
	// condition (registry: -1 when unknown), to tell the gateway's own work from contention.
	Gateway, Registry PhaseCPU
	// PhaseTime is the total length of each condition's phases.
	PhaseTime time.Duration
	// Control and Churning are the updates sent in each condition.
	ControlUpdates, ChurnUpdates UpdateStats
	// UpdatesApplied counts the endpoint updates the gateway applied while churning (from its
	// metrics), -1 when unknown.
	UpdatesApplied int
}

// PhaseCPU is CPU time per condition.
type PhaseCPU struct{ Quiet, Control, Churning time.Duration }

// UpdateStats counts the registry updates of one condition.
type UpdateStats struct {
	Sent, Failed int
	Time         time.Duration
}

// Rate is the update rate achieved, per second.
func (u UpdateStats) Rate() float64 {
	if u.Time <= 0 {
		return 0
	}
	return float64(u.Sent) / u.Time.Seconds()
}

// SentRate is the registry update rate achieved while churning, per second.
func (c *ChurnResult) SentRate() float64 { return c.ChurnUpdates.Rate() }

// AppliedRate is the rate of endpoint updates the gateway applied while churning, per second
// (negative when unknown).
func (c *ChurnResult) AppliedRate() float64 {
	if c.UpdatesApplied < 0 || c.ChurnUpdates.Time <= 0 {
		return -1
	}
	return float64(c.UpdatesApplied) / c.ChurnUpdates.Time.Seconds()
}

func churnInstances(cfg ChurnConfig, prefix string) []Instance {
	instances := make([]Instance, cfg.Services)
	for i := range instances {
		instances[i] = Instance{
			Service: fmt.Sprintf("%s-%03d", prefix, i), Port: uint64(cfg.FirstPort + i), Cluster: HotCluster,
			ID: "churn-" + strconv.Itoa(i), TargetPort: cfg.TargetPort, Name: "rev-0",
		}
	}
	return instances
}

// RunChurn registers the hot cluster's instances through reg (whose group the gateway
// watches) and as many through control (a group it does not watch), waits until the gateway
// routes the hot ones, then runs Rounds of quiet, control and churning phases of hot-path load.
//
// gatewayCPU and registryCPU read the processes' CPU time (negative: unknown).
func RunChurn(ctx context.Context, cfg ChurnConfig, reg, control *Registrar, adminAPI *Admin, metricsAddr, gatewayURL, runID string, gatewayCPU, registryCPU func() time.Duration) (*ChurnResult, error) {
	hot := churnInstances(cfg, "bench-"+runID+"-churn")
	cold := churnInstances(cfg, "bench-"+runID+"-control")
	if err := registerAll(ctx, reg, hot, 32); err != nil {
		return nil, err
	}
	if err := registerAll(ctx, control, cold, 32); err != nil {
		return nil, err
	}
	if _, err := adminAPI.WaitEndpoints(ctx, gatewayproc.AdapterID, HotCluster, cfg.Services, 100*time.Millisecond, time.Now().Add(60*time.Second)); err != nil {
		return nil, fmt.Errorf("churn: waiting for the hot cluster: %w", err)
	}

	client := dataplane.NewClient(dataplane.Workers)
	defer client.CloseIdleConnections()
	run := &churnRun{ctx: ctx, cfg: cfg, req: dataplane.Unary(client, gatewayURL, http.Header{ClusterHeader: {HotCluster}}),
		gatewayCPU: gatewayCPU, registryCPU: registryCPU}
	if _, err := run.drive(time.Second); err != nil { // warm-up
		return nil, err
	}
	res := &ChurnResult{UpdatesApplied: -1, PhaseTime: time.Duration(cfg.Rounds) * cfg.Phase}
	run.lastGW, run.lastReg = gatewayCPU(), registryCPU()
	applied, metricsOK := 0, true
	for range cfg.Rounds {
		quiet, err := run.drive(cfg.Phase)
		if err != nil {
			return nil, err
		}
		res.Quiet.Merge(quiet)
		res.QuietP99s = append(res.QuietP99s, quiet.Latency.Quantile(0.99))
		run.charge(&res.Gateway.Quiet, &res.Registry.Quiet)
		if err := run.whileChurning(control, cold, &res.ControlUpdates, &res.Control, &res.ControlP99s); err != nil {
			return nil, err
		}
		run.charge(&res.Gateway.Control, &res.Registry.Control)
		before, err1 := discoveryUpdates(ctx, metricsAddr)
		if err := run.whileChurning(reg, hot, &res.ChurnUpdates, &res.Churning, &res.ChurningP99s); err != nil {
			return nil, err
		}
		run.charge(&res.Gateway.Churning, &res.Registry.Churning)
		// Updates still in flight at the end of the phase land a moment later; they are
		// counted here only if the gateway applied them before this read.
		after, err2 := discoveryUpdates(ctx, metricsAddr)
		if err1 == nil && err2 == nil {
			applied += int(after - before)
		} else {
			metricsOK = false
		}
	}
	if metricsOK {
		res.UpdatesApplied = applied
	}
	return res, nil
}

// churnRun is the state of one RunChurn between its phases.
type churnRun struct {
	ctx                     context.Context
	cfg                     ChurnConfig
	req                     load.Request
	gatewayCPU, registryCPU func() time.Duration
	lastGW, lastReg         time.Duration
	rev                     int // the revision the next metadata update writes
}

// drive offers the hot path its load for d.
func (c *churnRun) drive(d time.Duration) (*load.Result, error) {
	return load.OpenLoop{Rate: c.cfg.Rate, Duration: d, Workers: dataplane.Workers}.Run(c.ctx, c.req)
}

// charge adds the CPU used since the last call to the condition's counters.
func (c *churnRun) charge(gw, rg *time.Duration) {
	g, r := c.gatewayCPU(), c.registryCPU()
	*gw += g - c.lastGW
	if r >= 0 && c.lastReg >= 0 {
		*rg += r - c.lastReg
	} else {
		*rg = -1
	}
	c.lastGW, c.lastReg = g, r
}

// whileChurning runs one phase of load while updates go to instances through reg.
func (c *churnRun) whileChurning(reg *Registrar, instances []Instance, stats *UpdateStats, into *load.Result, p99s *[]time.Duration) error {
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	wg.Go(func() { churn(c.ctx, c.cfg.UpdatesPerSecond, reg, instances, &c.rev, stop, &sent, &failed) })
	got, err := c.drive(c.cfg.Phase)
	close(stop)
	wg.Wait()
	stats.Time += time.Since(began)
	stats.Sent += int(sent.Load())
	stats.Failed += int(failed.Load())
	if err != nil {
		return err
	}
	into.Merge(got)
	*p99s = append(*p99s, got.Latency.Quantile(0.99))
	return nil
}

// churn sends metadata updates at perSecond through a small pool (registry calls take tens of
// milliseconds) until stop closes. Ticks that find the pool busy are skipped and show up as a
// lower achieved rate.
func churn(ctx context.Context, perSecond float64, reg *Registrar, instances []Instance, rev *int, stop <-chan struct{}, sent, failed *atomic.Int64) {
	jobs := make(chan Instance, 64)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for in := range jobs {
				if err := reg.Update(in); err != nil {
					failed.Add(1)
				}
				sent.Add(1)
			}
		})
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
	defer func() {
		tick.Stop()
		close(jobs)
		wg.Wait()
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		*rev++
		in := instances[i%len(instances)]
		in.Name = "rev-" + strconv.Itoa(*rev)
		select {
		case jobs <- in:
		default:
		}
	}
}

func registerAll(ctx context.Context, reg *Registrar, instances []Instance, concurrency int) error {
	jobs := make(chan Instance)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range concurrency {
		wg.Go(func() {
			for in := range jobs {
				// Registration is idempotent: a registry slowed by heartbeat load gets three tries.
				err := reg.Register(in)
				for try := 1; err != nil && try < 3 && ctx.Err() == nil; try++ {
					err = reg.Register(in)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, in := range instances {
		select {
		case jobs <- in:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
