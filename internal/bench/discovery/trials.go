package discovery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
)

// Kinds of discovery change, in the order a trial makes them.
const (
	KindNewService = "new service → routed"
	KindRegister   = "register → routed"
	KindDeregister = "deregister → no traffic"
	KindLastLeaves = "last instance leaves → no traffic"
	// stepDeadline bounds the wait for one change; Polaris has taken up to ~30 s to show a
	// deregistration.
	stepDeadline    = 45 * time.Second
	laneStaggerStep = 400 * time.Millisecond
)

// Kinds lists the change kinds in report order.
var Kinds = []string{KindNewService, KindRegister, KindDeregister, KindLastLeaves}

// Step is one timed registry change.
type Step struct {
	Kind string
	// Change is when the registry call returned; Seen when the first list response carrying
	// the change reached the gateway (zero if the proxy never saw one); LastRead when the last
	// such response before Applied did (for a last instance leaving, the confirming read);
	// Applied when the first probe answer showing the new routing arrived.
	Change, Seen, LastRead, Applied time.Time
	Err                             error
}

// TrialConfig shapes the trials.
type TrialConfig struct {
	// Lanes run concurrently, each on its own pair of clusters; Trials run one after another
	// in each lane (Lanes*Trials samples of every kind).
	Lanes, Trials int
	// TargetPort is where the registered instances send traffic (the stub upstream).
	TargetPort int
	// FirstPort is the lowest registry port used for the instances' identities.
	FirstPort int
}

// TrialClusters are the clusters (and so routes) the trials need in the gateway config.
func (c TrialConfig) TrialClusters() []string {
	var out []string
	for l := range c.Lanes {
		a, b := laneClusters(l)
		out = append(out, a, b)
	}
	return out
}

func laneClusters(lane int) (a, b string) {
	return fmt.Sprintf("lane%02d-a", lane), fmt.Sprintf("lane%02d-b", lane)
}

// RunTrials times every change kind Lanes*Trials times against the gateway at gatewayURL,
// which must watch reg's group and have routes for TrialClusters. Each trial:
//  1. registers instance A of a new service (cluster lane-a): new service → routed;
//  2. registers instance B of the same service in cluster lane-b: register → routed;
//  3. deregisters B (A remains, so the service still has instances): deregister → no traffic;
//  4. deregisters A, the service's last instance: last instance leaves → no traffic.
//
// A cluster with its only endpoint gone answers 503, so each change is observed as one
// cluster flipping between 200 and 503, with no load-balancing ambiguity.
func RunTrials(ctx context.Context, cfg TrialConfig, reg *Registrar, watch *Watch, gatewayURL string, runID string) []Step {
	var (
		mu    sync.Mutex
		steps []Step
		wg    sync.WaitGroup
	)
	for l := range cfg.Lanes {
		wg.Go(func() {
			// Staggered starts keep lanes from moving in lockstep with the registry's cycles.
			stagger := time.Duration(l)*laneStaggerStep + rand.N(laneStaggerStep)
			select {
			case <-time.After(stagger):
			case <-ctx.Done():
				return
			}
			p := NewProber(gatewayURL)
			for t := range cfg.Trials {
				got := runTrial(ctx, cfg, reg, watch, p, l, t, runID)
				mu.Lock()
				steps = append(steps, got...)
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return steps
}

func runTrial(ctx context.Context, cfg TrialConfig, reg *Registrar, watch *Watch, p *Prober, lane, trial int, runID string) []Step {
	ca, cb := laneClusters(lane)
	svc := fmt.Sprintf("bench-%s-l%02d-t%02d", runID, lane, trial)
	port := uint64(cfg.FirstPort + lane*cfg.Trials*2 + trial*2)
	a := Instance{Service: svc, Port: port, Cluster: ca, ID: "a-" + svc, TargetPort: cfg.TargetPort}
	b := Instance{Service: svc, Port: port + 1, Cluster: cb, ID: "b-" + svc, TargetPort: cfg.TargetPort}
	group := reg.Group()

	type change struct {
		kind    string
		cluster string
		routed  bool
		expect  func(after time.Time) *Expectation
		do      func() error
	}
	changes := []change{
		{KindNewService, ca, true, func(t time.Time) *Expectation { return watch.ServiceList(svc, t) }, func() error { return reg.Register(a) }},
		{KindRegister, cb, true, func(t time.Time) *Expectation { return watch.InstanceList(group, svc, quoted(b.ID), true, t) }, func() error { return reg.Register(b) }},
		{KindDeregister, cb, false, func(t time.Time) *Expectation { return watch.InstanceList(group, svc, quoted(b.ID), false, t) }, func() error { return reg.Deregister(b) }},
		{KindLastLeaves, ca, false, func(t time.Time) *Expectation { return watch.InstanceList(group, svc, quoted(a.ID), false, t) }, func() error { return reg.Deregister(a) }},
	}
	var steps []Step
	for _, c := range changes {
		st := Step{Kind: c.kind}
		seen := c.expect(time.Now())
		if err := c.do(); err != nil {
			watch.Cancel(seen)
			st.Err = err
			steps = append(steps, st)
			return steps // later changes build on this one
		}
		st.Change = time.Now()
		st.Applied, st.Err = p.WaitRouted(ctx, c.cluster, c.routed, seen, st.Change.Add(stepDeadline))
		st.Seen = seen.At()
		watch.Cancel(seen)
		if !st.Applied.IsZero() {
			st.LastRead = watch.LastHitBefore(seen, st.Applied)
		}
		if st.Err != nil {
			st.Err = fmt.Errorf("%s (%s): %w", c.kind, svc, st.Err)
			steps = append(steps, st)
			return steps
		}
		steps = append(steps, st)
	}
	return steps
}

func quoted(s string) string { return `"` + s + `"` }

// TrialRoutes are the gateway routes for cfg's clusters.
func TrialRoutes(cfg TrialConfig) []gatewayproc.Route {
	var routes []gatewayproc.Route
	for _, c := range cfg.TrialClusters() {
		routes = append(routes, Route(c))
	}
	return routes
}
