package llmregistry_test

// The integration suite runs every scenario against each (server, transport) target the adapter
// is tested with: TestIntegration/<scenario>/<target> on one server per kind shared by the whole
// package (each test in its own group), TestReconnect/<scenario>/<target> on a server of the
// test's own, which the scenario kills or restarts. A provider registers through the registrar
// of `pixiu llm register` that fits the target.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

// target is one (server, transport) pair.
type target struct {
	name      string // in subtest names
	server    string // polaris or r-nacos
	transport string // the adapter's transport key
}

const (
	serverPolaris = "polaris"
	serverRNacos  = "r-nacos"
)

var targets = []target{
	{name: "polaris-http", server: serverPolaris, transport: "http"},
	{name: "rnacos-http", server: serverRNacos, transport: "http"},
	{name: "rnacos-grpc", server: serverRNacos, transport: "grpc"},
}

// scenario is one behaviour checked on every target.
type scenario struct {
	name string
	run  func(t *testing.T, tg target)
	// processWide scenarios look at the whole process (goroutines, sockets), so they do not run
	// beside other tests.
	processWide bool
}

func TestIntegration(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "StopLeavesNoGoroutines", run: stopLeavesNoGoroutines, processWide: true},
		{name: "NothingListensForPushes", run: nothingListensForPushes, processWide: true},
		{name: "RegisterIsRouted", run: registerIsRouted},
		{name: "DomainWithPathAndDerivedID", run: domainWithPathAndDerivedID},
		{name: "MetadataUpdateIsUsed", run: metadataUpdateIsUsed},
		{name: "DeregisterOneOfTwo", run: deregisterOneOfTwo},
		{name: "LastInstanceLeaves", run: lastInstanceLeaves},
		{name: "ManyServices", run: manyServices},
		{name: "ModelCatalogAndRoutingFollowTheRegistry", run: modelCatalogAndRoutingFollowTheRegistry},
		{name: "ModelRoutingFallsBackAcrossClustersAndStreams", run: modelRoutingFallsBackAcrossClustersAndStreams},
	})
}

// TestReconnect holds the scenarios in which the registry goes away and comes back, so the
// gateway's (and over gRPC the provider's) client connects again.
func TestReconnect(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "RegistryDownAtStartup", run: registryDownAtStartup},
		{name: "RegistryKilledWhileServing", run: registryKilledWhileServing},
		{name: "RegistryRestartsEmpty", run: registryRestartsEmpty},
	})
}

func runScenarios(t *testing.T, scenarios []scenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !sc.processWide {
				t.Parallel()
			}
			for _, tg := range targets {
				t.Run(tg.name, func(t *testing.T) {
					if !sc.processWide {
						t.Parallel()
					}
					sc.run(t, tg)
				})
			}
		})
	}
}

// registry is the registry config of a gateway watching over tg.
func (tg target) registry() registryConfig {
	return registryConfig{transport: tg.transport, refresh: refreshInterval}
}

// sharedServer is a registry server started on first use and stopped by TestMain.
type sharedServer struct {
	once sync.Once
	addr string
	stop func() error
	err  error
}

var shared = map[string]*sharedServer{serverPolaris: {}, serverRNacos: {}}

func TestMain(m *testing.M) {
	// The tests name their registry address explicitly; the override is tested in package nacos.
	_ = os.Unsetenv("NACOS_ADDRESS")
	flag.Parse()
	raiseParallel(scenarioParallel)
	code := m.Run()
	for name, s := range shared {
		if s.stop == nil {
			continue
		}
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop %s: %v\n", name, err)
		}
	}
	if builtPixiu.dir != "" {
		_ = os.RemoveAll(builtPixiu.dir)
	}
	os.Exit(code)
}

// scenarioParallel is how many tests run at once unless -parallel says otherwise. The scenarios
// mostly wait (re-read intervals, restarts, sleeps), so the default, GOMAXPROCS, would queue
// them behind each other on a small machine.
const scenarioParallel = 8

// raiseParallel sets -test.parallel to n when the command line did not set it.
func raiseParallel(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
}

// sharedAddr returns the address of the package's server of tg's kind, starting it on first
// use; $PIXIU_TEST_NACOS_ADDR (Polaris targets) or $PIXIU_TEST_NACOS_GRPC_ADDR (r-nacos
// targets) names an existing server instead.
func (tg target) sharedAddr(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	s := shared[tg.server]
	if tg.server == serverPolaris {
		if addr := os.Getenv(polaris.EnvAddr); addr != "" {
			return addr
		}
		s.once.Do(func() { s.addr, s.stop, s.err = startPolaris() })
		if s.err != nil {
			t.Fatalf("cannot start the Polaris registry (set %s to use an existing Nacos): %v", polaris.EnvAddr, s.err)
		}
		return s.addr
	}
	if addr := os.Getenv(rnacos.EnvAddr); addr != "" {
		return addr
	}
	s.once.Do(func() { s.addr, s.stop, s.err = startRNacosShared() })
	rnacos.RequireStarted(t, s.err)
	return s.addr
}

func startPolaris() (addr string, stop func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s, err := polaris.Start(ctx, polaris.Options{StopGrace: -1})
	if err != nil {
		return "", nil, err
	}
	return s.Addr(), s.Stop, nil
}

func startRNacosShared() (addr string, stop func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute) // a cold cargo build
	defer cancel()
	s, err := rnacos.Start(ctx, rnacos.Options{})
	if err != nil {
		return "", nil, err
	}
	return s.Addr(), s.Stop, nil
}

// ownServer is a registry server of tg's kind that only the calling test uses, to kill and
// restart.
type ownServer struct {
	addr string
	kill func() error
	// restart starts the server again on the same ports, with its store kept or wiped.
	restart func(ctx context.Context, wipe bool) error
}

func (tg target) ownServer(t *testing.T) ownServer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	if tg.server == serverPolaris {
		s := polaris.StartForTest(t)
		return ownServer{addr: s.Addr(), kill: s.Kill, restart: func(ctx context.Context, wipe bool) error {
			if wipe {
				return s.RestartWiped(ctx)
			}
			return s.Restart(ctx)
		}}
	}
	if addr := os.Getenv(rnacos.EnvAddr); addr != "" {
		t.Skipf("%s=%s: this scenario kills and restarts the registry, which needs a local r-nacos", rnacos.EnvAddr, addr)
	}
	s := rnacos.StartForTest(t, rnacos.Options{})
	return ownServer{addr: s.Addr(), kill: s.Kill, restart: func(ctx context.Context, wipe bool) error {
		if wipe {
			return s.Restart(ctx, rnacos.WipeStore)
		}
		return s.Restart(ctx, rnacos.KeepStore)
	}}
}
