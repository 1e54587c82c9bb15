package llmregistry_test

// Integration tests: a whole gateway built in-process discovers providers that
// llmprovider.Registrar (the registrar of `pixiu llm register`) registers in a real
// Nacos-protocol registry (Polaris, started by internal/test/polaris; or any
// Nacos named by $PIXIU_TEST_NACOS_ADDR) and routes HTTP to llmstub upstreams.
//
// They run under a plain `go test` (and so under `make test`); `go test -short` skips them.
// One registry server is shared by the package; each test uses its own group, so tests run in
// parallel. Tests that kill the registry start their own. IT_LOGS=1 prints every gateway's log.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

const (
	// refreshInterval is the adapter's re-read interval in these tests.
	refreshInterval = time.Second
	// discoveryBound bounds every wait for a registry change to reach the gateway. The real
	// latencies (logged as "latency") are a few seconds at most; the bound leaves room for a
	// loaded CI machine.
	discoveryBound = 20 * time.Second
	poll           = 20 * time.Millisecond
)

var shared struct {
	once sync.Once
	srv  *polaris.Server
	addr string
	err  error
}

func TestMain(m *testing.M) {
	// The tests name their registry address explicitly; the override is tested in package nacos.
	_ = os.Unsetenv("NACOS_ADDRESS")
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop polaris:", err)
		}
	}
	os.Exit(code)
}

// sharedRegistry returns the address of the package's registry, starting it on first use.
func sharedRegistry(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	if addr := os.Getenv(polaris.EnvAddr); addr != "" {
		return addr
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		shared.srv, shared.err = polaris.Start(ctx, polaris.Options{StopGrace: -1})
		if shared.err == nil {
			shared.addr = shared.srv.Addr()
		}
	})
	if shared.err != nil {
		t.Fatalf("cannot start the Polaris registry (set %s to use an existing Nacos): %v", polaris.EnvAddr, shared.err)
	}
	return shared.addr
}

// ownRegistry starts a registry only this test uses, for tests that kill it.
func ownRegistry(t *testing.T) *polaris.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	return polaris.StartForTest(t)
}

// uniqueGroup isolates a test's services from the other tests on the shared registry.
func uniqueGroup(t *testing.T) string {
	return fmt.Sprintf("it-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.IntN(1_000_000))
}

// provider registers instances the way an LLM provider does, with the registrar of
// `pixiu llm register` (heartbeats, no listening socket).
type provider struct {
	t     *testing.T
	reg   *llmprovider.Registrar
	group string
	mu    sync.Mutex
	live  map[string]llmprovider.Instance
}

func newProvider(t *testing.T, addr, group string) *provider {
	return newProviderBeating(t, addr, group, 0)
}

// newProviderBeating is a provider whose heartbeats go every beat (default 5 s).
func newProviderBeating(t *testing.T, addr, group string, beat time.Duration) *provider {
	t.Helper()
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: addr, Namespace: "public", Timeout: 3 * time.Second, BeatInterval: beat})
	require.NoError(t, err)
	p := &provider{t: t, reg: reg, group: group, live: map[string]llmprovider.Instance{}}
	t.Cleanup(p.leaveAll)
	return p
}

func (p *provider) instance(service string, stub *llmstub.Stub, meta map[string]string) llmprovider.Instance {
	host, portStr, _ := strings.Cut(stub.Addr(), ":")
	port, _ := strconv.ParseUint(portStr, 10, 16)
	return llmprovider.Instance{Service: service, Group: p.group, IP: host, Port: port, Weight: 1, Metadata: meta}
}

func (p *provider) register(service string, stub *llmstub.Stub, meta map[string]string) {
	p.t.Helper()
	in := p.instance(service, stub, meta)
	require.NoError(p.t, p.reg.Register(in))
	p.mu.Lock()
	p.live[service+"/"+stub.Addr()] = in
	p.mu.Unlock()
}

func (p *provider) update(service string, stub *llmstub.Stub, meta map[string]string) {
	p.t.Helper()
	in := p.instance(service, stub, meta)
	require.NoError(p.t, p.reg.Update(in))
	p.mu.Lock()
	p.live[service+"/"+stub.Addr()] = in
	p.mu.Unlock()
}

func (p *provider) deregister(service string, stub *llmstub.Stub) {
	p.t.Helper()
	p.mu.Lock()
	in, ok := p.live[service+"/"+stub.Addr()]
	delete(p.live, service+"/"+stub.Addr())
	p.mu.Unlock()
	require.True(p.t, ok, "not registered: %s %s", service, stub.Addr())
	require.NoError(p.t, p.reg.Deregister(in))
}

func (p *provider) leaveAll() {
	p.mu.Lock()
	for k, in := range p.live {
		_ = p.reg.Deregister(in)
		delete(p.live, k)
	}
	p.mu.Unlock()
	_ = p.reg.Close()
}

// testGateway is a whole gateway from pixiu.yaml text: one listener routing /static to a static
// cluster and everything else to the discovered cluster.
type testGateway struct {
	*server.Gateway
	URL     string
	adapter *llmregistry.Adapter
	logs    *logcapture.Buffer
	client  *http.Client
}

const gatewayYAML = `static_resources:
  listeners:
    - name: llm
      protocol_type: HTTP
      address: {socket_address: {address: 127.0.0.1, port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {prefix: /static}
                    route: {cluster: static}
                  - match: {prefix: /}
                    route: {cluster: %s, cluster_not_found_response_code: 503}
              http_filters:
                - name: dgp.filter.llm.proxy
                  config: {timeout: 5s, scheme: http}
  clusters:
    - name: static
      endpoints:
        - id: static-upstream
          socket_address: {address: 127.0.0.1, port: %s}
  adapters:
    - id: llm-registry
      name: dgp.adapter.llmregistrycenter
      config:
        registries:
          nacos:
            protocol: nacos
            address: "%s"
            timeout: 2s
            group: %s
            namespace: public
            refresh_interval: %s
  shutdown_config: {timeout: 5s, step_timeout: 5s}
`

func startGateway(t *testing.T, registryAddr, group, clusterName string, static *llmstub.Stub) *testGateway {
	t.Helper()
	_, staticPort, _ := strings.Cut(static.Addr(), ":")
	return startGatewayYAML(t, fmt.Sprintf(gatewayYAML, clusterName, staticPort, registryAddr, group, refreshInterval))
}

// startGatewayYAML starts a gateway from pixiu.yaml text made from gatewayYAML.
func startGatewayYAML(t *testing.T, yaml string) *testGateway {
	t.Helper()
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections) // registered first, so it runs after the gateway stopped
	began := time.Now()
	g := gatewaytest.Start(t, yaml)
	require.Less(t, time.Since(began), 2*time.Second, "Start does not wait for the registry")
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs,
		adapter: g.Adapters.Adapters()["llm-registry"].(*llmregistry.Adapter), client: &http.Client{Transport: transport, Timeout: 15 * time.Second}}
}

const chatBody = `{"model":"stub-model","messages":[{"role":"user","content":"say hi"}]}`

// chat sends one chat completion through the gateway; it returns the status and body.
func (g *testGateway) chat(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := g.client.Post(g.URL+path, "application/json", strings.NewReader(chatBody))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func (g *testGateway) hasMember(cluster, id string) bool {
	c := g.Clusters.Cluster(cluster)
	return c != nil && c.Member(id) != nil
}

func (g *testGateway) members(cluster string) int {
	if c := g.Clusters.Cluster(cluster); c != nil {
		return len(c.Members)
	}
	return 0
}

// latency logs a measured discovery latency in a form easy to grep.
func latency(t *testing.T, what string, d time.Duration) {
	t.Logf("latency %s: %v (refresh interval %v)", what, d.Round(10*time.Millisecond), refreshInterval)
}

func meta(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// (a) register → routed, with the API key from the metadata.
func TestIntegrationRegisterIsRouted(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("alpha"), llmstub.WithAPIKey("sk-alpha"))
	g := startGateway(t, addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, addr, group)

	began := time.Now()
	p.register("alpha-svc", up, meta("cluster", "chat", "id", "alpha", "llm-meta.api_key", "sk-alpha"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "alpha") }, discoveryBound, poll)
	latency(t, "register → routed", time.Since(began))

	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Hello from alpha")
	last, ok := up.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer sk-alpha", last.Header.Get("Authorization"))

	m := g.Clusters.Cluster("chat").Member("alpha")
	assert.Equal(t, "llm-registry", m.Source)
	assert.Equal(t, up.Addr(), fmt.Sprintf("%s:%d", m.Endpoint.Address.Address, m.Endpoint.Address.Port),
		"the instance's own ip and port are dialed")

	st := g.adapter.Status()
	require.Len(t, st, 1)
	assert.True(t, st[0].Reachable)
	assert.Contains(t, st[0].Services, "alpha-svc")
	require.Len(t, st[0].Endpoints, 1)
	assert.Equal(t, "alpha-svc", st[0].Endpoints[0].Service)
	assert.NotContains(t, g.logs.String(), "sk-alpha", "API keys never reach the log")

	for _, d := range []string{"cache", "log"} {
		_, err := os.Stat(d)
		assert.True(t, os.IsNotExist(err), "something wrote %q into the working directory", d)
	}
}

// A domain with scheme and base path is dialed as a base URL; an instance without an id keeps
// one stable derived id across re-reads (no add/remove churn).
func TestIntegrationDomainWithPathAndDerivedID(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("based"))
	g := startGateway(t, addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, addr, group)
	p.register("based-svc", up, meta("cluster", "chat", "address", up.URL()+"/openai"))
	derived := "based-svc@" + up.Addr()
	require.Eventually(t, func() bool { return g.hasMember("chat", derived) }, discoveryBound, poll)

	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	last, ok := up.Last()
	require.True(t, ok)
	assert.Equal(t, "/openai/v1/chat/completions", last.Path)

	time.Sleep(3 * refreshInterval)
	assert.Equal(t, 1, g.members("chat"))
	assert.Equal(t, 1, strings.Count(g.logs.String(), "endpoint added"), "the same id on every read")
	assert.Zero(t, strings.Count(g.logs.String(), "endpoint removed"))
}

// (b) a metadata update of api key and retry policy is used by the next requests.
func TestIntegrationMetadataUpdateIsUsed(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("beta"), llmstub.WithAPIKey("sk-new"))
	g := startGateway(t, addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, addr, group)

	p.register("beta-svc", up, meta("cluster", "chat", "id", "beta", "llm-meta.api_key", "sk-old"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "beta") }, discoveryBound, poll)
	code, _ := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusUnauthorized, code, "the upstream refuses the old key")

	// NoRetry: one scripted 503 reaches the client.
	up.Script(llmstub.Status(http.StatusServiceUnavailable))
	code, _ = g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusUnauthorized, code, "still the old key")

	began := time.Now()
	p.update("beta-svc", up, meta("cluster", "chat", "id", "beta", "llm-meta.api_key", "sk-new",
		"llm-meta.retry_policy.name", "countbased", "llm-meta.retry_policy.config", `{"times": 2}`))
	require.Eventually(t, func() bool {
		m := g.Clusters.Cluster("chat").Member("beta")
		return m != nil && len(m.Keys) == 1 && m.Keys[0] == "sk-new" && m.Retry.Attempts() == 3
	}, discoveryBound, poll)
	latency(t, "metadata update → applied", time.Since(began))

	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, "the new key is sent: %s", body)

	up.Script(llmstub.Status(http.StatusServiceUnavailable), llmstub.Status(http.StatusServiceUnavailable))
	before := up.Count()
	code, body = g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, "CountBased times=2 retries twice: %s", body)
	assert.Equal(t, 3, up.Count()-before, "three attempts on the endpoint")
}

// (c) deregister one of two → traffic only to the other.
func TestIntegrationDeregisterOneOfTwo(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	a := llmstub.Start(t, llmstub.WithName("one"))
	b := llmstub.Start(t, llmstub.WithName("two"))
	g := startGateway(t, addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, addr, group)
	p.register("pair", a, meta("cluster", "chat", "id", "one"))
	p.register("pair", b, meta("cluster", "chat", "id", "two"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "one") && g.hasMember("chat", "two") }, discoveryBound, poll)
	for i := 0; i < 4; i++ {
		code, _ := g.chat(t, "/v1/chat/completions")
		require.Equal(t, http.StatusOK, code)
	}
	require.Positive(t, a.Count())
	require.Positive(t, b.Count())

	began := time.Now()
	p.deregister("pair", b)
	require.Eventually(t, func() bool { return !g.hasMember("chat", "two") }, discoveryBound, poll)
	latency(t, "deregister one of two → gone", time.Since(began))
	assert.True(t, g.hasMember("chat", "one"))

	countB := b.Count()
	for i := 0; i < 10; i++ {
		code, body := g.chat(t, "/v1/chat/completions")
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "Hello from one")
	}
	assert.Equal(t, countB, b.Count(), "no request reaches the deregistered upstream")
}

// (d) the last instance leaves → 503, and no request reaches it, within about one interval
// (no push arrives for this case).
func TestIntegrationLastInstanceLeaves(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("last"))
	g := startGateway(t, addr, group, "solo", llmstub.Start(t))
	p := newProvider(t, addr, group)
	p.register("solo-svc", up, meta("cluster", "solo", "id", "last"))
	require.Eventually(t, func() bool { return g.hasMember("solo", "last") }, discoveryBound, poll)
	code, _ := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code)

	began := time.Now()
	p.deregister("solo-svc", up)
	require.Eventually(t, func() bool { return g.members("solo") == 0 }, discoveryBound, poll)
	took := time.Since(began)
	latency(t, "last instance leaves → gone", took)

	count := up.Count()
	for i := 0; i < 5; i++ {
		code, body := g.chat(t, "/v1/chat/completions")
		assert.Equal(t, http.StatusServiceUnavailable, code, body)
	}
	assert.Equal(t, count, up.Count(), "no request reaches the departed upstream")
	assert.Contains(t, g.adapter.Status()[0].Services, "solo-svc", "the service is still listed, still watched")
}

// (e) 25 services are all routed (the reference saw only the first 10).
func TestIntegrationManyServices(t *testing.T) {
	t.Parallel()
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("many"))
	g := startGateway(t, addr, group, "many", llmstub.Start(t))
	p := newProvider(t, addr, group)
	const n = 25
	began := time.Now()
	for i := 0; i < n; i++ {
		p.register(fmt.Sprintf("svc-%02d", i), up, meta("cluster", "many", "id", fmt.Sprintf("ep-%02d", i)))
	}
	require.Eventually(t, func() bool { return g.members("many") == n }, discoveryBound, poll)
	latency(t, "25 services registered → all routed", time.Since(began))
	for i := 0; i < n; i++ {
		code, _ := g.chat(t, "/v1/chat/completions")
		require.Equal(t, http.StatusOK, code)
	}
	assert.Len(t, g.adapter.Status()[0].Services, n)
}

// (f) registry down at start-up: static routes serve; the registry started later is used.
func TestIntegrationRegistryDownAtStartup(t *testing.T) {
	t.Parallel()
	reg := ownRegistry(t)
	require.NoError(t, reg.Kill())
	group := uniqueGroup(t)
	static := llmstub.Start(t, llmstub.WithName("static"))
	g := startGateway(t, reg.Addr(), group, "chat", static)

	code, body := g.chat(t, "/static/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"stub":"static"`, "the static upstream answered")
	code, _ = g.chat(t, "/v1/chat/completions")
	assert.Equal(t, http.StatusServiceUnavailable, code, "nothing discovered yet")
	require.Eventually(t, func() bool { st := g.adapter.Status(); return st[0].LastError != "" }, discoveryBound, poll)
	assert.False(t, g.adapter.Status()[0].Reachable)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, reg.Restart(ctx))
	up := llmstub.Start(t, llmstub.WithName("late"))
	p := newProvider(t, reg.Addr(), group)
	began := time.Now()
	p.register("late-svc", up, meta("cluster", "chat", "id", "late"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "late") }, discoveryBound, poll)
	latency(t, "registry back + register → routed", time.Since(began))
	code, body = g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Hello from late")
	assert.True(t, g.adapter.Status()[0].Reachable)
	assert.Equal(t, 1, strings.Count(g.logs.String(), "registry unavailable"), "logged once for the whole outage")
}

// (g) registry killed while serving: known endpoints keep serving; after a restart, changes are
// picked up again.
func TestIntegrationRegistryKilledWhileServing(t *testing.T) {
	t.Parallel()
	reg := ownRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("steady"))
	g := startGateway(t, reg.Addr(), group, "chat", llmstub.Start(t))
	p := newProvider(t, reg.Addr(), group)
	p.register("steady-svc", up, meta("cluster", "chat", "id", "steady"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "steady") }, discoveryBound, poll)

	require.NoError(t, reg.Kill())
	require.Eventually(t, func() bool { return !g.adapter.Status()[0].Reachable }, discoveryBound, poll)
	// Several re-read intervals without a registry: nothing is lost.
	deadline := time.Now().Add(4 * refreshInterval)
	for time.Now().Before(deadline) {
		code, body := g.chat(t, "/v1/chat/completions")
		require.Equal(t, http.StatusOK, code, body)
		time.Sleep(200 * time.Millisecond)
	}
	assert.True(t, g.hasMember("chat", "steady"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, reg.Restart(ctx))
	began := time.Now()
	fresh := llmstub.Start(t, llmstub.WithName("fresh"))
	p.register("fresh-svc", fresh, meta("cluster", "chat", "id", "fresh"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "fresh") && g.adapter.Status()[0].Reachable }, discoveryBound, poll)
	latency(t, "registry restarted + register → routed", time.Since(began))

	p.deregister("fresh-svc", fresh)
	require.Eventually(t, func() bool { return !g.hasMember("chat", "fresh") }, discoveryBound, poll)
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, 1, strings.Count(g.logs.String(), "registry available again"))
}

// (h) Stop leaves no goroutine of the adapter behind, and no goroutine of a registry client is
// ignored. Not parallel: goleak looks at the whole process.
func TestIntegrationStopLeavesNoGoroutines(t *testing.T) {
	addr := sharedRegistry(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("leak"))
	static := llmstub.Start(t)
	p := newProvider(t, addr, group)
	p.register("leak-svc", up, meta("cluster", "chat", "id", "leak"))

	opts := []goleak.Option{goleak.IgnoreCurrent()}
	func() {
		g := startGateway(t, addr, group, "chat", static)
		require.Eventually(t, func() bool { return g.hasMember("chat", "leak") }, discoveryBound, poll)
		code, _ := g.chat(t, "/v1/chat/completions")
		require.Equal(t, http.StatusOK, code)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, g.Shutdown(ctx))
		g.client.CloseIdleConnections()
	}()
	goleak.VerifyNone(t, opts...)
}
