package suite

import (
	"context"
	"fmt"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/registryproxy"
	"github.com/pixiu-llm/gateway/internal/bench/report"
)

// Bounds of the discovery phases, so that a registry that never delivers cannot hold the run.
const (
	trialsBudget = 4 * time.Minute
	churnBudget  = 2 * time.Minute
	// scaleBudget bounds one scale step: registering its instances (40 s on a quiet machine,
	// minutes when other work starves the registry) plus the sync and steady-state windows.
	scaleBudget = 8 * time.Minute
)

// discovery runs the registry benchmarks, every one with the gateway's registry calls going
// through a counting proxy.
func (s *suite) discovery(ctx context.Context) {
	watch := discovery.NewWatch()
	px, err := registryproxy.Start(s.nacos, watch.Observe)
	if err != nil {
		s.fail("discovery", err)
		return
	}
	defer px.Close()
	s.run.Settings = append(s.run.Settings,
		fmt.Sprintf("Discovery: registry %s; the gateway's registry calls pass through a counting proxy; adapter re-read interval %v.", s.registryName(), refreshInterval))
	if !s.opts.SkipChanges {
		if err := s.trialsAndChurn(ctx, px, watch); err != nil {
			s.fail("discovery trials and churn", err)
		}
	}
	if err := s.scale(ctx, px); err != nil {
		s.fail("discovery scale", err)
	}
	s.run.RegistryLatency = px.Latencies()
}

func (s *suite) registryName() string {
	if s.registry != nil {
		return "Polaris " + s.nacos + " (Nacos 1.x HTTP API)"
	}
	return "Nacos at " + s.nacos
}

func (s *suite) trialsAndChurn(ctx context.Context, px *registryproxy.Proxy, watch *discovery.Watch) error {
	group := "bench-discovery-" + s.runID
	reg, err := discovery.NewRegistrar(s.nacos, group)
	if err != nil {
		return err
	}
	defer reg.Close()

	control, err := discovery.NewRegistrar(s.nacos, "bench-control-"+s.runID)
	if err != nil {
		return err
	}
	defer control.Close()

	trials, churn := s.changeConfigs()
	adminAddr, err := gatewayproc.FreeAddr()
	if err != nil {
		return err
	}
	metricsPort, err := gatewayproc.FreePort()
	if err != nil {
		return err
	}
	gw, err := gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, "gateway-discovery", gatewayproc.Config{
		Routes:      append(discovery.TrialRoutes(trials), discovery.Route(discovery.HotCluster)),
		Registry:    s.registryConfig(px.Addr(), group),
		AdminAddr:   adminAddr,
		MetricsPort: metricsPort,
	})
	if err != nil {
		return err
	}
	defer s.stopChild(gw.Process)

	s.runTrials(ctx, trials, reg, watch, gw)
	s.logf("churn: %d endpoints, %.0f updates/s, hot path at %.0f req/s", churn.Services, churn.UpdatesPerSecond, churn.Rate)
	cctx, cancel := context.WithTimeout(ctx, churnBudget)
	defer cancel()
	res, err := discovery.RunChurn(cctx, churn, reg, control, discovery.NewAdmin(adminAddr), fmt.Sprintf("127.0.0.1:%d", metricsPort), gw.URL(), s.runID,
		func() time.Duration {
			if u, err := gw.Usage(); err == nil {
				return u.CPU
			}
			return 0
		}, s.registryCPU)
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
func (s *suite) runTrials(ctx context.Context, trials discovery.TrialConfig, reg *discovery.Registrar, watch *discovery.Watch, gw *gatewayproc.Gateway) {
	s.logf("discovery: %d trials of each change (%d lanes in parallel)", trials.Lanes*trials.Trials, trials.Lanes)
	tctx, cancel := context.WithTimeout(ctx, trialsBudget)
	defer cancel()
	s.run.Trials = discovery.RunTrials(tctx, trials, reg, watch, gw.URL(), s.runID)
	for _, st := range s.run.Trials {
		if st.Err != nil {
			s.logf("  %v", st.Err)
		}
	}
}

func (s *suite) scale(ctx context.Context, px *registryproxy.Proxy) error {
	sizes := s.opts.Scales
	if len(sizes) == 0 {
		sizes = []ScaleSize{{1000, 5}}
		if s.opts.Quick {
			sizes = []ScaleSize{{200, 5}}
		}
	}
	for i, sz := range sizes {
		if i > 0 && (sz.Services <= sizes[i-1].Services || sz.PerService != sizes[i-1].PerService) {
			return fmt.Errorf("scale sizes must grow in services with the same instances per service: %v", sizes)
		}
	}
	if sizes[len(sizes)-1].Services*sizes[len(sizes)-1].PerService < 10000 {
		s.note("Scale stopped at %d instances: the 10,000-instance step is not in the default run, which must fit in 10 minutes on 2 cores with every instance heartbeating (run `pixiu-bench -skip-dataplane -scale 1000x5,2000x5`).",
			sizes[len(sizes)-1].Services*sizes[len(sizes)-1].PerService)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(sizes))*scaleBudget)
	defer cancel()
	group := "bench-scale-" + s.runID
	reg, err := discovery.NewRegistrar(s.nacos, group)
	if err != nil {
		return err
	}
	defer reg.Close()
	from := 0
	for _, sz := range sizes {
		cfg := discovery.ScaleConfig{Services: sz.Services, PerService: sz.PerService, SteadyWindow: 20 * time.Second,
			SyncDeadline: 90 * time.Second, SyncStall: 15 * time.Second, TargetPort: s.stubPort, FirstPort: 50000}
		if s.opts.Quick {
			cfg.SteadyWindow = 5 * time.Second
		}
		if err := s.scaleStep(ctx, px, reg, group, cfg, from); err != nil {
			return err
		}
		from = sz.Services
	}
	return nil
}

// scaleStep registers the services from..cfg.Services-1, starts a fresh gateway on the whole
// group and measures its sync and steady state.
func (s *suite) scaleStep(ctx context.Context, px *registryproxy.Proxy, reg *discovery.Registrar, group string, cfg discovery.ScaleConfig, from int) error {
	s.logf("scale: registering services %d..%d × %d instances", from, cfg.Services-1, cfg.PerService)
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
		return gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, fmt.Sprintf("gateway-scale-%d", cfg.Services*cfg.PerService), gatewayproc.Config{
			Routes:      []gatewayproc.Route{discovery.Route("scale-0000")},
			Registry:    s.registryConfig(px.Addr(), group),
			MetricsPort: metricsPort,
		})
	}, discovery.RoutedFromRegistry(metricsAddr), px, s.registryCPU)
	if gw != nil {
		defer s.stopChild(gw.Process)
	}
	if res == nil {
		return err
	}
	res.Register = took
	if err == nil {
		if res.Healthy, err = cfg.HealthyInRegistry(ctx, s.nacos, group, s.runID); err != nil {
			res.Healthy = -1
			s.note("Scale: counting healthy instances in the registry failed: %v", err)
			err = nil
		}
	}
	s.run.Scales = append(s.run.Scales, report.Scale{ScaleResult: res, Err: err})
	s.logf("scale: 99%% routed after %v, all after %v; %d routed, %d healthy in the registry; %.0f registry calls/min at steady state",
		res.Sync99.Round(time.Millisecond), res.Sync.Round(time.Millisecond), res.Routed, res.Healthy, res.CallsPerMinute())
	return err
}
