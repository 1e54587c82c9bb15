package llmregistry_test

// Integration tests of what only the gRPC transport (Nacos 2.x/3.x) has, against a real r-nacos
// started by internal/test/rnacos: changes that arrive by push, instances that live as long as
// their provider's connection, a provider that registers again by itself after a restart; and
// r-nacos with auth on, over both transports. The behaviour every transport shares is the suite
// (suite_test.go). Here the gateway re-reads the service list every grpcRefresh; instance
// changes of a known service must arrive well before that, by push.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// grpcRefresh is the service-list re-read interval of the gRPC tests: the default, so that a
// change seen well within it came by push.
const grpcRefresh = 5 * time.Second

// pushBound is the generous bound of a change that must arrive by push.
const pushBound = 3500 * time.Millisecond

// startRNacos starts an r-nacos for the test (skipped with -short, or without cargo unless
// CI=true).
func startRNacos(t *testing.T, opts rnacos.Options) *rnacos.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	return rnacos.StartForTest(t, opts)
}

// grpcProvider registers one instance per service over gRPC; it is closed at the end of the test.
func grpcProvider(t *testing.T, addr string, cfg grpcnaming.Config) *grpcnaming.Client {
	t.Helper()
	cfg.Addresses, cfg.Timeout = []string{addr}, 3*time.Second
	c, err := grpcnaming.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.Eventually(t, c.Connected, discoveryBound, poll)
	return c
}

func stubInstance(service, group string, stub *llmstub.Stub, meta map[string]string) registry.Instance {
	host, portStr, _ := strings.Cut(stub.Addr(), ":")
	port, _ := strconv.Atoi(portStr)
	return registry.Instance{Service: service, Group: group, IP: host, Port: port, Weight: 1, Enabled: true, Healthy: true, Metadata: meta}
}

// waitLatency waits for cond and logs how long it took since began.
func waitLatency(t *testing.T, what string, began time.Time, cond func() bool) time.Duration {
	t.Helper()
	require.Eventually(t, cond, discoveryBound, poll, what)
	took := time.Since(began)
	t.Logf("latency %s: %v (service list re-read every %v)", what, took.Round(10*time.Millisecond), grpcRefresh)
	return took
}

func TestIntegrationGRPCChangesArriveByPush(t *testing.T) {
	t.Parallel()
	srv := startRNacos(t, rnacos.Options{})
	group := uniqueGroup(t)
	a, b := llmstub.Start(t, llmstub.WithName("one")), llmstub.Start(t, llmstub.WithName("two"))
	g := startGatewayOver(t, registryConfig{transport: "grpc", refresh: grpcRefresh}, srv.Addr(), group, "chat", llmstub.Start(t))
	first, second := grpcProvider(t, srv.Addr(), grpcnaming.Config{}), grpcProvider(t, srv.Addr(), grpcnaming.Config{})

	began := time.Now()
	require.NoError(t, first.Register(stubInstance("pair", group, a, meta("cluster", "chat", "id", "one"))))
	waitLatency(t, "new service registered → routed", began, func() bool { return g.hasMember("chat", "one") })

	began = time.Now()
	require.NoError(t, second.Register(stubInstance("pair", group, b, meta("cluster", "chat", "id", "two"))))
	took := waitLatency(t, "register → routed", began, func() bool { return g.hasMember("chat", "two") })
	assert.Less(t, took, pushBound, "a new instance of a watched service arrives by push")
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)

	began = time.Now()
	require.NoError(t, second.Deregister(stubInstance("pair", group, b, nil)))
	took = waitLatency(t, "deregister → gone", began, func() bool { return !g.hasMember("chat", "two") })
	assert.Less(t, took, pushBound, "a deregistration arrives by push")
	assert.True(t, g.hasMember("chat", "one"))

	began = time.Now()
	require.NoError(t, first.Deregister(stubInstance("pair", group, a, nil)))
	took = waitLatency(t, "last instance leaves → gone", began, func() bool { return g.members("chat") == 0 })
	assert.Less(t, took, pushBound+2*time.Second, "pushed empty, confirmed by one read 2 s later")
	code, _ = g.chat(t, "/v1/chat/completions")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

// With r-nacos's auth on, a provider and a gateway with the right credentials work over both
// transports; a gateway with a wrong password does not, and neither password reaches its error
// or the logs.
func TestIntegrationRNacosAuth(t *testing.T) {
	t.Parallel()
	const user, password = "pixiu-admin", "s3cret-Passw0rd"
	srv := startRNacos(t, rnacos.Options{Username: user, Password: password})
	for _, transport := range []string{"http", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			group := uniqueGroup(t)
			up := llmstub.Start(t, llmstub.WithName("authed"))
			opts := llmprovider.NacosOptions{Address: srv.Addr(), Namespace: "public", Username: user, Password: password, Timeout: 3 * time.Second}
			reg := connectRegistrar(t, transport, opts)
			require.NoError(t, reg.Register(providerInstance("authed-svc", group, up, meta("cluster", "chat", "id", "authed"))))

			good := startGatewayOver(t, registryConfig{transport: transport, username: user, password: password, refresh: refreshInterval},
				srv.Addr(), group, "chat", llmstub.Start(t))
			require.Eventually(t, func() bool { return good.hasMember("chat", "authed") }, discoveryBound, poll)

			const wrong = "wrong-Passw0rd"
			bad := startGatewayOver(t, registryConfig{transport: transport, username: user, password: wrong, refresh: refreshInterval},
				srv.Addr(), group, "chat", llmstub.Start(t))
			require.Eventually(t, func() bool { return bad.adapter.Status()[0].LastError != "" }, discoveryBound, poll)
			st := bad.adapter.Status()[0]
			t.Logf("wrong password: %s", st.LastError)
			assert.Contains(t, st.LastError, srv.Addr(), "the error names the registry address")
			assert.False(t, st.Reachable)
			assert.False(t, bad.hasMember("chat", "authed"))
			for _, text := range []string{st.LastError, bad.logs.String(), good.logs.String()} {
				assert.NotContains(t, text, wrong)
				assert.NotContains(t, text, password)
			}
		})
	}
}

// connectRegistrar connects the registrar of `pixiu llm register --transport transport`; it is
// closed at the end of the test.
func connectRegistrar(t *testing.T, transport string, opts llmprovider.NacosOptions) registrar {
	t.Helper()
	var reg registrar
	var err error
	if transport == "grpc" {
		reg, err = llmprovider.ConnectGRPC(opts)
	} else {
		reg, err = llmprovider.Connect(opts)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// `pixiu llm register --transport grpc`: routed while it runs, it holds no UDP socket and no TCP
// listener, and when the process is killed (no deregistration) the registry drops its instance
// with its connection: gone from the gateway by push, not after a heartbeat expiry.
func TestIntegrationLLMRegisterGRPCGoneWhenKilled(t *testing.T) {
	t.Parallel()
	srv := startRNacos(t, rnacos.Options{})
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("child"))
	host, port, _ := strings.Cut(up.Addr(), ":")
	g := startGatewayOver(t, registryConfig{transport: "grpc", refresh: grpcRefresh}, srv.Addr(), group, "chat", llmstub.Start(t))
	child := startRegister(t, nil, "--transport", "grpc", "--nacos", srv.Addr(), "--group", group,
		"--service", "child-svc", "--cluster", "chat", "--id", "child", "--ip", host, "--port", port)
	require.Eventually(t, func() bool { return g.hasMember("chat", "child") }, discoveryBound, poll, child.output())
	assert.Contains(t, child.output(), "over gRPC")
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assertNothingAnswers(t, child.cmd.Process.Pid, true)

	began := time.Now()
	require.NoError(t, child.cmd.Process.Kill())
	took := waitLatency(t, "register process killed → gone", began, func() bool { return !g.hasMember("chat", "child") })
	assert.Less(t, took, pushBound+2*time.Second, "connection dropped, empty list pushed and confirmed")
}

// The registry restarts with its store wiped; the provider's client reconnects and registers its
// instance again by itself, the gateway's client reconnects and subscribes again. Meanwhile
// 5 requests/s through the gateway: none fails.
func TestReconnectGRPCRegistryRestartsWiped(t *testing.T) {
	t.Parallel()
	srv := startRNacos(t, rnacos.Options{})
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("survivor"))
	g := startGatewayOver(t, registryConfig{transport: "grpc", refresh: grpcRefresh}, srv.Addr(), group, "chat", llmstub.Start(t))
	provider := grpcProvider(t, srv.Addr(), grpcnaming.Config{})
	require.NoError(t, provider.Register(stubInstance("survivor-svc", group, up, meta("cluster", "chat", "id", "survivor"))))
	require.Eventually(t, func() bool { return g.hasMember("chat", "survivor") }, discoveryBound, poll)

	load := startLoad(g, 200*time.Millisecond)
	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restarted := time.Now()
	require.NoError(t, srv.Restart(ctx, rnacos.WipeStore))
	require.Eventually(t, provider.Connected, discoveryBound, poll, "the provider reconnects")
	t.Logf("provider reconnected %v after the restart began", time.Since(restarted).Round(100*time.Millisecond))
	require.Eventually(t, func() bool {
		list, err := provider.Instances("survivor-svc", group)
		return err == nil && len(list) == 1
	}, discoveryBound, poll, "the provider registers its instance again by itself")
	time.Sleep(3 * grpcRefresh) // pushes after re-subscribing, confirmations, several list re-reads
	sent, failed, why := load.stop()

	assert.Zero(t, failed, "%d of %d requests failed: %v", failed, sent, why)
	assert.GreaterOrEqual(t, sent, int64(50))
	assert.True(t, g.hasMember("chat", "survivor"))
	assert.Zero(t, strings.Count(g.logs.String(), "endpoint removed"), g.logs.String())
	assert.True(t, g.adapter.Status()[0].Reachable)
}

// load sends chat requests through a gateway at a steady rate and counts the failures.
type load struct {
	cancel       context.CancelFunc
	done         sync.WaitGroup
	sent, failed atomic.Int64
	failures     sync.Map
}

func startLoad(g *testGateway, every time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.send(g)
		}
	}()
	return l
}

func (l *load) send(g *testGateway) {
	l.sent.Add(1)
	resp, err := g.client.Post(g.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
	if err != nil {
		l.failed.Add(1)
		l.failures.Store(err.Error(), true)
		return
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.failed.Add(1)
		l.failures.Store(strconv.Itoa(resp.StatusCode), true)
	}
}

// stop ends the load and returns how many requests were sent, how many failed and why.
func (l *load) stop() (sent, failed int64, why []string) {
	l.cancel()
	l.done.Wait()
	l.failures.Range(func(k, _ any) bool { why = append(why, k.(string)); return true })
	return l.sent.Load(), l.failed.Load(), why
}
