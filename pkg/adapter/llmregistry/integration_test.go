package llmregistry_test

// Integration scenarios (run on every target by suite_test.go): a whole gateway built in-process
// discovers providers that the registrars of `pixiu llm register` register in a real
// Nacos-protocol registry (Polaris started by internal/test/polaris, r-nacos started by
// internal/test/rnacos), and routes HTTP to llmstub upstreams.
//
// They run under a plain `go test` (and so under `make test`); `go test -short` skips them.
// IT_LOGS=1 prints every gateway's log.

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

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
	"github.com/pixiu-llm/gateway/pkg/model"
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

// uniqueGroup isolates a test's services from the other tests on the shared registry.
func uniqueGroup(t *testing.T) string {
	return fmt.Sprintf("it-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.IntN(1_000_000))
}

// registrar is what a provider registers through: llmprovider.Registrar over HTTP (heartbeats),
// llmprovider.GRPCRegistrar over gRPC (instances live as long as its connection).
type registrar interface {
	Register(llmprovider.Instance) error
	Deregister(llmprovider.Instance) error
	Close() error
}

// provider registers instances the way an LLM provider does, with the registrar of `pixiu llm
// register` (no listening socket).
type provider struct {
	t     *testing.T
	group string
	// http is the registrar over HTTP; nil over gRPC, where connect makes one registrar per
	// instance of a service, since a gRPC registrar holds one instance per service.
	http    *llmprovider.Registrar
	connect func() (*llmprovider.GRPCRegistrar, error)
	mu      sync.Mutex
	grpc    []*llmprovider.GRPCRegistrar
	live    map[string]registered
}

// registered is an instance and the registrar that registered it.
type registered struct {
	in llmprovider.Instance
	by registrar
}

// newProvider is a provider registering over tg's transport.
func newProvider(t *testing.T, tg target, addr, group string) *provider {
	if tg.transport != "grpc" {
		return newHTTPProvider(t, addr, group, 0)
	}
	p := &provider{t: t, group: group, live: map[string]registered{}}
	p.connect = func() (*llmprovider.GRPCRegistrar, error) {
		// The timeout also bounds a registration's wait for the connection, after a restart too.
		return llmprovider.ConnectGRPC(llmprovider.NacosOptions{Address: addr, Namespace: "public", Timeout: 10 * time.Second})
	}
	t.Cleanup(p.leaveAll)
	return p
}

// newHTTPProvider is a provider registering over HTTP whose heartbeats go every beat (default
// 5 s).
func newHTTPProvider(t *testing.T, addr, group string, beat time.Duration) *provider {
	t.Helper()
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: addr, Namespace: "public", Timeout: 3 * time.Second, BeatInterval: beat})
	require.NoError(t, err)
	p := &provider{t: t, http: reg, group: group, live: map[string]registered{}}
	t.Cleanup(p.leaveAll)
	return p
}

func (p *provider) instance(service string, stub *llmstub.Stub, meta map[string]string) llmprovider.Instance {
	return providerInstance(service, p.group, stub, meta)
}

// providerInstance is an instance of service in group served by stub.
func providerInstance(service, group string, stub *llmstub.Stub, meta map[string]string) llmprovider.Instance {
	host, portStr, _ := strings.Cut(stub.Addr(), ":")
	port, _ := strconv.ParseUint(portStr, 10, 16)
	return llmprovider.Instance{Service: service, Group: group, IP: host, Port: port, Weight: 1, Metadata: meta}
}

// registrarFor returns the registrar that holds the instance at key, or one free to register in.
func (p *provider) registrarFor(in llmprovider.Instance, key string) registrar {
	p.t.Helper()
	if p.http != nil {
		return p.http
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if held, ok := p.live[key]; ok {
		return held.by
	}
	busy := map[registrar]bool{}
	for _, r := range p.live {
		busy[r.by] = busy[r.by] || r.in.Service == in.Service
	}
	for _, r := range p.grpc {
		if !busy[r] {
			return r
		}
	}
	r, err := p.connect()
	require.NoError(p.t, err)
	p.grpc = append(p.grpc, r)
	return r
}

func (p *provider) register(service string, stub *llmstub.Stub, meta map[string]string) {
	p.t.Helper()
	in, key := p.instance(service, stub, meta), service+"/"+stub.Addr()
	by := p.registrarFor(in, key)
	require.NoError(p.t, by.Register(in))
	p.mu.Lock()
	p.live[key] = registered{in: in, by: by}
	p.mu.Unlock()
}

// update changes a registered instance's metadata: in place over HTTP; over gRPC by registering
// it again on the same connection, which replaces that connection's instance.
func (p *provider) update(service string, stub *llmstub.Stub, meta map[string]string) {
	p.t.Helper()
	if p.http == nil {
		p.register(service, stub, meta)
		return
	}
	in := p.instance(service, stub, meta)
	require.NoError(p.t, p.http.Update(in))
	p.mu.Lock()
	p.live[service+"/"+stub.Addr()] = registered{in: in, by: p.http}
	p.mu.Unlock()
}

func (p *provider) deregister(service string, stub *llmstub.Stub) {
	p.t.Helper()
	p.mu.Lock()
	held, ok := p.live[service+"/"+stub.Addr()]
	delete(p.live, service+"/"+stub.Addr())
	p.mu.Unlock()
	require.True(p.t, ok, "not registered: %s %s", service, stub.Addr())
	require.NoError(p.t, held.by.Deregister(held.in))
}

func (p *provider) leaveAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, held := range p.live {
		_ = held.by.Deregister(held.in)
		delete(p.live, k)
	}
	if p.http != nil {
		_ = p.http.Close()
	}
	for _, r := range p.grpc {
		_ = r.Close()
	}
}

// testGateway is a whole gateway: one listener routing /static to a static cluster and
// everything else to the discovered cluster.
type testGateway struct {
	*server.Gateway
	URL     string
	adapter *llmregistry.Adapter
	logs    *logcapture.Buffer
	client  *http.Client
}

// registryConfig is the adapter's config of the gateway's one registry, besides its address and
// group.
type registryConfig struct {
	transport, username, password string
	refresh                       time.Duration
}

// adapter is the registry adapter with one registry, r at addr watching group.
func (r registryConfig) adapter(addr, group string) *model.Adapter {
	return gatewayconfig.RegistryAdapter(registry.Config{
		Protocol: "nacos", Transport: r.transport, Address: addr, Timeout: 2 * time.Second, Group: group,
		Namespace: "public", RefreshInterval: r.refresh, Username: r.username, Password: r.password,
	})
}

// proxyFilter is the LLM proxy every test gateway routes through.
var proxyFilter = []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"})}

// startGatewayOver starts a gateway watching group on the registry at registryAddr with r,
// routing to the discovered cluster clusterName and /static to static.
func startGatewayOver(t *testing.T, r registryConfig, registryAddr, group, clusterName string, static *llmstub.Stub) *testGateway {
	t.Helper()
	return startGatewayYAML(t, gatewayconfig.OneRoute{
		Routes:   []*model.Router{gatewayconfig.Route("/static", "static"), gatewayconfig.Route("/", clusterName)},
		Filters:  proxyFilter,
		Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("static", "", gatewayconfig.Endpoint("static-upstream", static.Addr(), nil))},
		Adapters: []*model.Adapter{r.adapter(registryAddr, group)},
	}.YAML())
}

// startGatewayYAML starts a gateway from pixiu.yaml text with the adapter "llm-registry".
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
func registerIsRouted(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("alpha"), llmstub.WithAPIKey("sk-alpha"))
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)

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
func domainWithPathAndDerivedID(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("based"))
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)
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
func metadataUpdateIsUsed(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("beta"), llmstub.WithAPIKey("sk-new"))
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)

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
func deregisterOneOfTwo(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	a := llmstub.Start(t, llmstub.WithName("one"))
	b := llmstub.Start(t, llmstub.WithName("two"))
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)
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

// (d) the last instance leaves → 503, and no request reaches it, within about one interval.
func lastInstanceLeaves(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("last"))
	g := startGatewayOver(t, tg.registry(), addr, group, "solo", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)
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
func manyServices(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("many"))
	g := startGatewayOver(t, tg.registry(), addr, group, "many", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)
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
func registryDownAtStartup(t *testing.T, tg target) {
	reg := tg.ownServer(t)
	require.NoError(t, reg.kill())
	group := uniqueGroup(t)
	static := llmstub.Start(t, llmstub.WithName("static"))
	g := startGatewayOver(t, tg.registry(), reg.addr, group, "chat", static)

	code, body := g.chat(t, "/static/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"stub":"static"`, "the static upstream answered")
	code, _ = g.chat(t, "/v1/chat/completions")
	assert.Equal(t, http.StatusServiceUnavailable, code, "nothing discovered yet")
	require.Eventually(t, func() bool { st := g.adapter.Status(); return st[0].LastError != "" }, discoveryBound, poll)
	assert.False(t, g.adapter.Status()[0].Reachable)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, reg.restart(ctx, false))
	up := llmstub.Start(t, llmstub.WithName("late"))
	p := newProvider(t, tg, reg.addr, group)
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
func registryKilledWhileServing(t *testing.T, tg target) {
	reg := tg.ownServer(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("steady"))
	g := startGatewayOver(t, tg.registry(), reg.addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, reg.addr, group)
	p.register("steady-svc", up, meta("cluster", "chat", "id", "steady"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "steady") }, discoveryBound, poll)

	require.NoError(t, reg.kill())
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
	require.NoError(t, reg.restart(ctx, false))
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
func stopLeavesNoGoroutines(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("leak"))
	static := llmstub.Start(t)
	p := newProvider(t, tg, addr, group)
	p.register("leak-svc", up, meta("cluster", "chat", "id", "leak"))

	opts := []goleak.Option{goleak.IgnoreCurrent()}
	func() {
		g := startGatewayOver(t, tg.registry(), addr, group, "chat", static)
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
