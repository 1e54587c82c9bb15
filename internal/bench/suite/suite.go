// Package suite runs the whole benchmark of `make bench` in one process on one machine: the
// data plane (direct, ReverseProxy, gateway with static endpoints, gateway with registry
// endpoints, and variants of the static gateway by one config change each: variants.go) and
// the discovery benchmarks against a real Nacos-protocol registry, and collects everything
// into a report.
package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/proc"
	"github.com/pixiu-llm/gateway/internal/bench/report"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// Options configure a run.
type Options struct {
	// Pixiu is the gateway binary; Self is this benchmark binary (run as the ReverseProxy child).
	Pixiu, Self string
	// WorkDir holds generated configs and child logs.
	WorkDir string
	// Quick shortens every phase (a smoke run; numbers are noisier).
	Quick bool
	// SkipDataplane and SkipDiscovery leave out a half of the suite; SkipChanges leaves out the
	// discovery change trials and churn (the scale part still runs).
	SkipDataplane, SkipDiscovery, SkipChanges bool
	// ProfileDir, if set, runs every gateway in process under the benchmark binary with CPU and
	// allocation profiles written there (see gatewayproc.Binary).
	ProfileDir string
	// Scales are the sizes of the scale benchmark, in increasing services with one instance
	// count per service; each step adds services to the previous one's. Default: 1000×5
	// (200×5 with Quick).
	Scales []ScaleSize
	// NacosAddr points the data plane's registry gateway and the HTTP discovery row at an
	// existing Nacos instead of starting Polaris (registry CPU is then not reported).
	NacosAddr string
	// Transports are the discovery rows to run: TransportHTTP (against Polaris or NacosAddr)
	// and TransportGRPC (against an r-nacos the suite starts). Empty: both.
	Transports []string
	// Command is recorded in the report.
	Command string
	// Log receives progress lines.
	Log io.Writer
}

// ScaleSize is one step of the scale benchmark.
type ScaleSize struct{ Services, PerService int }

// Stream shape of the SSE scenario.
const (
	streamChunks   = 10
	streamInterval = time.Millisecond
	// refreshInterval is the adapter's full re-read interval in every generated config (its
	// default).
	refreshInterval = 5 * time.Second
)

// Run runs the suite and returns the report. A failed part is noted in the report and makes
// the returned error non-nil; the parts after it still run.
func Run(ctx context.Context, opts Options) (*report.Run, error) {
	s := &suite{opts: opts, run: &report.Run{Started: time.Now(), Command: opts.Command, RefreshInterval: refreshInterval}}
	s.run.Machine = describeMachine()
	s.runID = strconv.FormatInt(time.Now().Unix()%100000, 36)
	err := s.all(ctx)
	s.run.Machine.LoadEnd = loadAverage()
	s.run.Took = time.Since(s.run.Started)
	return s.run, err
}

type suite struct {
	opts  Options
	run   *report.Run
	runID string
	errs  []error

	stub     *llmstub.Stub
	stubPort int
	registry *polaris.Server // nil with NacosAddr
	nacos    string
}

func (s *suite) logf(format string, args ...any) {
	if s.opts.Log != nil {
		fmt.Fprintf(s.opts.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// fail records a failed part.
func (s *suite) fail(part string, err error) {
	s.logf("%s FAILED: %v", part, err)
	s.errs = append(s.errs, fmt.Errorf("%s: %w", part, err))
	s.run.Notes = append(s.run.Notes, fmt.Sprintf("%s failed: %v", part, err))
}

func (s *suite) note(format string, args ...any) {
	s.run.Notes = append(s.run.Notes, fmt.Sprintf(format, args...))
}

func (s *suite) all(ctx context.Context) error {
	stub, err := llmstub.NewServer("127.0.0.1:0", llmstub.Config{
		Name: "bench", DisableRecording: true, StreamChunks: streamChunks, ChunkInterval: streamInterval,
	})
	if err != nil {
		return err
	}
	defer stub.Close()
	s.stub = stub
	_, port, _ := net.SplitHostPort(stub.Addr())
	s.stubPort, _ = strconv.Atoi(port)

	s.nacos = s.opts.NacosAddr
	needsPolaris := !s.opts.SkipDataplane || (!s.opts.SkipDiscovery && s.wantTransport(TransportHTTP))
	if s.nacos == "" && needsPolaris {
		s.logf("starting the Polaris registry (the first run builds it, about a minute)")
		// Benchmark data is thrown away: no graceful shutdown.
		srv, err := polaris.Start(ctx, polaris.Options{StopGrace: -1})
		if err != nil {
			return fmt.Errorf("start the Polaris registry (or pass -nacos host:port): %w", err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				s.logf("stop polaris: %v", err)
			}
		}()
		s.registry, s.nacos = srv, srv.Addr()
	}

	if !s.opts.SkipDataplane {
		if err := s.dataplane(ctx); err != nil {
			s.fail("data plane", err)
		}
	}
	if !s.opts.SkipDiscovery {
		s.discovery(ctx)
	}
	return errors.Join(s.errs...)
}

func (s *suite) scaled(d time.Duration) time.Duration {
	if s.opts.Quick {
		return d / 4
	}
	return d
}

func (s *suite) scenarios() []dataplane.Scenario {
	warm := s.scaled(time.Second)
	return []dataplane.Scenario{
		{Name: "Unary, 1k req/s", Kind: dataplane.KindUnary, Rate: 1000, Duration: s.scaled(6 * time.Second), Warmup: warm},
		{Name: "Unary, 5k req/s", Kind: dataplane.KindUnary, Rate: 5000, Duration: s.scaled(4 * time.Second), Warmup: warm},
		{Name: fmt.Sprintf("Streaming (SSE, %d chunks %v apart), 500 streams/s", streamChunks, streamInterval),
			Kind: dataplane.KindStream, Rate: 500, Duration: s.scaled(4 * time.Second), Warmup: warm},
		{Name: "Saturation (closed loop, 32 connections)", Kind: dataplane.KindSaturation, Concurrency: 32,
			Duration: s.scaled(4 * time.Second), Warmup: warm},
	}
}

// dataplane starts the ReverseProxy and the gateways as child processes and runs every
// scenario against them and the stub.
func (s *suite) dataplane(ctx context.Context) error {
	s.logf("data plane: starting ReverseProxy and gateways")
	rp, rpAddr, err := proc.Start(ctx, "reverseproxy", filepath.Join(s.opts.WorkDir, "reverseproxy.log"), nil, proc.ListeningAddr,
		30*time.Second, s.opts.Self, "reverse-proxy", "-upstream", s.stub.URL())
	if err != nil {
		return err
	}
	defer s.stopChild(rp)

	static, err := gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, "gateway-static", s.staticConfig())
	if err != nil {
		return err
	}
	defer s.stopChild(static.Process)
	consumer, header, err := benchConsumer()
	if err != nil {
		return err
	}
	variants, stopVariants, err := s.startVariants(ctx, consumer, header) // variants.go
	defer stopVariants()
	if err != nil {
		return err
	}
	fromRegistry, stopRegistry, err := s.startRegistryGateway(ctx)
	defer stopRegistry()
	if err != nil {
		return err
	}

	targets := append([]dataplane.Target{
		{Name: dataplane.TargetDirect, URL: s.stub.URL() + "/v1/chat/completions", Header: header},
		{Name: dataplane.TargetReverseProxy, URL: "http://" + rpAddr + "/v1/chat/completions", Header: header, Proc: rp},
		{Name: dataplane.TargetGatewayStatic, URL: static.URL(), Header: header, Proc: static.Process},
		{Name: dataplane.TargetGatewayRegistry, URL: fromRegistry.URL(), Header: header, Proc: fromRegistry.Process},
	}, variants...)
	s.run.Settings = append(s.run.Settings,
		fmt.Sprintf("Data plane: stub upstream in the driver's process; open-loop driver with up to %d requests in flight per path; ReverseProxy, gateway (static), gateway (registry, one endpoint discovered from the registry) and %d gateway variants each run as a child process. Every request carries the same consumer key (Authorization: Bearer), which only the auth variants check.", dataplane.Workers, len(variants)))
	measurements, err := dataplane.Run(ctx, s.scenarios(), targets, s.logf)
	s.run.Dataplane = measurements
	s.recordPeakRSS(targets[1:])
	return err
}

// startRegistryGateway registers the stub in the registry and starts a gateway that finds it
// there, returning once that gateway routes to it. The returned stop is never nil.
func (s *suite) startRegistryGateway(ctx context.Context) (*gatewayproc.Gateway, func(), error) {
	var stops []func()
	stop := func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	group := "bench-dataplane-" + s.runID
	reg, err := discovery.NewRegistrar(s.nacos, group)
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, reg.Close)
	if err := reg.Register(discovery.Instance{Service: "bench-dataplane", Port: 39000, Cluster: "bench", ID: "stub",
		TargetPort: s.stubPort}); err != nil {
		return nil, stop, err
	}
	gw, err := gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, "gateway-registry", gatewayproc.Config{
		Routes:   []gatewayproc.Route{{Cluster: "bench"}},
		Registry: s.registryConfig(s.nacos, group),
	})
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { s.stopChild(gw.Process) })
	if _, err := discovery.NewProber(gw.URL()).WaitRouted(ctx, "bench", true, nil, time.Now().Add(60*time.Second)); err != nil {
		return nil, stop, fmt.Errorf("gateway (registry) never routed to the registered stub: %w", err)
	}
	return gw, stop, nil
}

// recordPeakRSS keeps each proxy process's peak RSS for the report.
func (s *suite) recordPeakRSS(targets []dataplane.Target) {
	s.run.PeakRSS = map[string]int64{}
	for _, t := range targets {
		if u, err := t.Proc.Usage(); err == nil {
			s.run.PeakRSS[t.Name] = u.PeakRSS
		}
	}
}

func (s *suite) gatewayBinary() gatewayproc.Binary {
	if s.opts.ProfileDir != "" {
		return gatewayproc.Binary{Path: s.opts.Self, ProfileDir: s.opts.ProfileDir}
	}
	return gatewayproc.Binary{Path: s.opts.Pixiu}
}

func (s *suite) registryConfig(addr, group string) *registry.Config {
	return &registry.Config{Protocol: "nacos", Address: addr, Timeout: 5 * time.Second, Group: group,
		Namespace: discovery.Namespace, RefreshInterval: refreshInterval}
}

func (s *suite) stopChild(p *proc.Process) {
	if err := p.Stop(10 * time.Second); err != nil {
		s.logf("stop %s: %v", p.Name, err)
	}
}

// registryCPU reads the registry server's CPU time, or -1 when it is not ours to read.
func (s *suite) registryCPU() time.Duration {
	if s.registry == nil {
		return -1
	}
	pid, err := proc.FindByCwd(s.registry.Dir(), "polaris-server")
	if err != nil {
		return -1
	}
	u, err := proc.ReadUsage(pid)
	if err != nil {
		return -1
	}
	return u.CPU
}

// WorkDir creates the directory for configs and logs.
func WorkDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "pixiu-bench-")
	}
	return dir, os.MkdirAll(dir, 0o755)
}
