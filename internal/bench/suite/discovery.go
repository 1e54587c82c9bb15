package suite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/load"
	"github.com/pixiu-llm/gateway/internal/bench/report"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

// Bounds of the discovery phases, so that a registry that never delivers cannot hold the run.
const (
	trialsBudget = 4 * time.Minute
	churnBudget  = 2 * time.Minute
	// scaleBudget bounds one scale step: registering its instances (40 s on a quiet machine,
	// minutes when other work starves the registry) plus the sync and steady-state windows.
	scaleBudget = 8 * time.Minute
)

// discovery runs the registry benchmarks row by row (see Options.Transports), every one with
// the gateway's registry traffic going through a counting proxy.
func (s *suite) discovery(ctx context.Context) {
	rows := []struct {
		transport string
		start     func(context.Context, *discovery.Watch) (*registryRow, func(), error)
	}{
		{TransportHTTP, func(_ context.Context, w *discovery.Watch) (*registryRow, func(), error) { return s.httpRow(w) }},
		{TransportGRPC, s.grpcRow},
	}
	sizes, err := s.scaleSizes()
	if err != nil {
		s.fail("discovery", err)
		return
	}
	s.noteScaleLimit(sizes)
	for _, r := range rows {
		if !s.wantTransport(r.transport) {
			continue
		}
		watch := discovery.NewWatch()
		row, stop, err := r.start(ctx, watch)
		switch {
		case errors.Is(err, rnacos.ErrNoCargo):
			s.note("Discovery over gRPC skipped: %v", err)
			continue
		case err != nil:
			s.fail("discovery ("+r.transport+")", err)
			continue
		}
		s.discoveryRow(ctx, row, watch)
		stop()
	}
}

func (s *suite) wantTransport(t string) bool {
	return len(s.opts.Transports) == 0 || slices.Contains(s.opts.Transports, t)
}

// discoveryRow runs the change trials (and, over HTTP, the churn) and the scale benchmark
// against one registry row.
func (s *suite) discoveryRow(ctx context.Context, row *registryRow, watch *discovery.Watch) {
	s.run.Settings = append(s.run.Settings,
		fmt.Sprintf("Discovery (%s): registry at %s; the gateway's registry traffic passes through a counting proxy; adapter transport %s, re-read interval %v.", row.label, row.addr, row.transport, refreshInterval))
	if !s.opts.SkipChanges {
		if err := s.changes(ctx, row, watch); err != nil {
			s.fail("discovery trials and churn ("+row.label+")", err)
		}
	}
	if err := s.scale(ctx, row); err != nil {
		s.fail("discovery scale ("+row.label+")", err)
	}
	for k, h := range row.proxy.Latencies() {
		if s.run.RegistryLatency == nil {
			s.run.RegistryLatency = map[string]*load.Histogram{}
		}
		s.run.RegistryLatency[row.label+": "+k] = h
	}
}

func (s *suite) registryName() string {
	if s.registry != nil {
		return "Polaris"
	}
	return "Nacos at " + s.nacos
}

// changes times the registry changes through a gateway watching row; over HTTP, the churn run
// follows on the same gateway.
func (s *suite) changes(ctx context.Context, row *registryRow, watch *discovery.Watch) error {
	group := "bench-discovery-" + s.runID
	reg, err := row.registrar(group, 2)
	if err != nil {
		return err
	}
	defer reg.Close()

	trials, churn := s.changeConfigs()
	adminAddr, err := gatewayproc.FreeAddr()
	if err != nil {
		return err
	}
	metricsPort, err := gatewayproc.FreePort()
	if err != nil {
		return err
	}
	gw, err := gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, "gateway-discovery-"+row.transport, gatewayproc.Config{
		Routes:      append(discovery.TrialRoutes(trials), discovery.Route(discovery.HotCluster)),
		Registry:    row.gatewayRegistry(s, group),
		AdminAddr:   adminAddr,
		MetricsPort: metricsPort,
	})
	if err != nil {
		return err
	}
	defer s.stopChild(gw.Process)

	s.run.Trials = append(s.run.Trials, report.TrialSet{Registry: row.label, Push: row.transport == TransportGRPC,
		Steps: s.runTrials(ctx, trials, reg, watch, gw)})
	if row.transport != TransportHTTP {
		return nil
	}
	return s.churn(ctx, row, reg, churn, gw, adminAddr, metricsPort)
}

// churn measures the hot path while endpoints churn, on the trials' gateway.
func (s *suite) churn(ctx context.Context, row *registryRow, reg *discovery.Registrar, churn discovery.ChurnConfig, gw *gatewayproc.Gateway, adminAddr string, metricsPort int) error {
	control, err := row.registrar("bench-control-"+s.runID, 1)
	if err != nil {
		return err
	}
	defer control.Close()
	s.logf("churn: %d endpoints, %.0f updates/s, hot path at %.0f req/s", churn.Services, churn.UpdatesPerSecond, churn.Rate)
	cctx, cancel := context.WithTimeout(ctx, churnBudget)
	defer cancel()
	res, err := discovery.RunChurn(cctx, churn, reg, control, discovery.NewAdmin(adminAddr), fmt.Sprintf("127.0.0.1:%d", metricsPort), gw.URL(), s.runID,
		func() time.Duration {
			if u, err := gw.Usage(); err == nil {
				return u.CPU
			}
			return 0
		}, row.cpu)
	if err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	s.run.Churn = res
	return nil
}

// changeConfigs shapes the change trials and the churn run, smaller with -quick.
func (s *suite) changeConfigs() (discovery.TrialConfig, discovery.ChurnConfig) {
	trials := discovery.TrialConfig{Lanes: 10, Trials: 2, TargetPort: s.stubPort, FirstPort: 40000}
	// Short phases in several rounds: other work on the machine then falls on all three
	// conditions alike.
	churn := discovery.ChurnConfig{Services: 100, UpdatesPerSecond: 100, Rate: 1000, Phase: 2500 * time.Millisecond, Rounds: 4,
		TargetPort: s.stubPort, FirstPort: 45000}
	if s.opts.Quick {
		trials.Lanes, trials.Trials = 4, 1
		churn.Phase, churn.Rounds = time.Second, 2
	}
	return trials, churn
}

// runTrials times each kind of registry change through gw, within trialsBudget.
func (s *suite) runTrials(ctx context.Context, trials discovery.TrialConfig, reg *discovery.Registrar, watch *discovery.Watch, gw *gatewayproc.Gateway) []discovery.Step {
	s.logf("discovery: %d trials of each change (%d lanes in parallel)", trials.Lanes*trials.Trials, trials.Lanes)
	tctx, cancel := context.WithTimeout(ctx, trialsBudget)
	defer cancel()
	steps := discovery.RunTrials(tctx, trials, reg, watch, gw.URL(), s.runID)
	for _, st := range steps {
		if st.Err != nil {
			s.logf("  %v", st.Err)
		}
	}
	return steps
}

// scaleSizes are the validated scale steps of the run.
func (s *suite) scaleSizes() ([]ScaleSize, error) {
	sizes := s.opts.Scales
	if len(sizes) == 0 {
		sizes = []ScaleSize{{1000, 5}}
		if s.opts.Quick {
			sizes = []ScaleSize{{200, 5}}
		}
	}
	for i, sz := range sizes {
		if i > 0 && (sz.Services <= sizes[i-1].Services || sz.PerService != sizes[i-1].PerService) {
			return nil, fmt.Errorf("scale sizes must grow in services with the same instances per service: %v", sizes)
		}
	}
	return sizes, nil
}

// noteScaleLimit says when the run leaves out the 10,000-instance step.
func (s *suite) noteScaleLimit(sizes []ScaleSize) {
	if last := sizes[len(sizes)-1]; last.Services*last.PerService < 10000 {
		s.note("Scale stopped at %d instances: the 10,000-instance step is not in the default run, which must fit in 10 minutes on 2 cores with every instance heartbeating (run `pixiu-bench -skip-dataplane -scale 1000x5,2000x5`).",
			last.Services*last.PerService)
	}
}

func (s *suite) scale(ctx context.Context, row *registryRow) error {
	sizes, err := s.scaleSizes()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(sizes))*scaleBudget)
	defer cancel()
	group := "bench-scale-" + s.runID
	reg, err := row.registrar(group, sizes[0].PerService)
	if err != nil {
		return err
	}
	defer reg.Close()
	from := 0
	for _, sz := range sizes {
		cfg := discovery.ScaleConfig{Services: sz.Services, PerService: sz.PerService, SteadyWindow: 20 * time.Second, Settle: 2 * refreshInterval,
			SyncDeadline: 90 * time.Second, SyncStall: 15 * time.Second, TargetPort: s.stubPort, FirstPort: 50000}
		if s.opts.Quick {
			cfg.SteadyWindow, cfg.Settle = 5*time.Second, refreshInterval
		}
		if err := s.scaleStep(ctx, row, reg, group, cfg, from); err != nil {
			return err
		}
		from = sz.Services
	}
	return nil
}

// scaleStep registers the services from..cfg.Services-1, starts a fresh gateway on the whole
// group and measures its sync and steady state.
func (s *suite) scaleStep(ctx context.Context, row *registryRow, reg *discovery.Registrar, group string, cfg discovery.ScaleConfig, from int) error {
	s.logf("scale (%s): registering services %d..%d × %d instances", row.label, from, cfg.Services-1, cfg.PerService)
	took, err := cfg.Register(ctx, reg, s.runID, from)
	if err != nil {
		return err
	}
	metricsPort, err := gatewayproc.FreePort()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s.logf("scale: registered in %v; starting the gateway", took.Round(time.Millisecond))
	res, gw, err := cfg.MeasureSync(ctx, func() (*gatewayproc.Gateway, error) {
		return gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, fmt.Sprintf("gateway-scale-%s-%d", row.transport, cfg.Services*cfg.PerService), gatewayproc.Config{
			Routes:      []gatewayproc.Route{discovery.Route("scale-0000")},
			Registry:    row.gatewayRegistry(s, group),
			MetricsPort: metricsPort,
		})
	}, discovery.RoutedFromRegistry(metricsAddr), row.proxy, row.cpu)
	if gw != nil {
		defer s.stopChild(gw.Process)
	}
	if res == nil {
		return err
	}
	res.Register = took
	if err == nil {
		if res.Healthy, err = cfg.HealthyInRegistry(ctx, row.addr, group, s.runID); err != nil {
			res.Healthy = -1
			s.note("Scale (%s): counting healthy instances in the registry failed: %v", row.label, err)
			err = nil
		}
	}
	s.run.Scales = append(s.run.Scales, report.Scale{ScaleResult: res, Registry: row.label, Push: row.transport == TransportGRPC, Err: err})
	s.logf("scale: 99%% routed after %v, all after %v; %d routed, %d healthy in the registry; %.0f registry calls/min at steady state",
		res.Sync99.Round(time.Millisecond), res.Sync.Round(time.Millisecond), res.Routed, res.Healthy, res.CallsPerMinute())
	return err
}
