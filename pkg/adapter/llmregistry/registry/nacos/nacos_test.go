package nacos

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// No goroutine of the SDK or of a receiver is ignored: the package starts none it cannot stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

const (
	waitFor = 5 * time.Second
	tick    = 10 * time.Millisecond
)

// fakeNacos is a Nacos 1.x HTTP API on httptest. With polaris set its service list behaves like
// Polaris': order shuffled per call, count of the whole namespace, pages padded with empty
// names, and an error when asked for a page past the group's end.
type fakeNacos struct {
	*httptest.Server
	mu         sync.Mutex
	services   map[string][]Instance // group@@service → instances
	polaris    bool
	namespaceN int
	pageSizes  []int
	calls      map[string]int
}

func newFakeNacos(t *testing.T) *fakeNacos {
	f := &fakeNacos{services: map[string][]Instance{}, calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeNacos) addr() string { return strings.TrimPrefix(f.URL, "http://") }

func (f *fakeNacos) set(group, service string, hosts ...Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[group+"@@"+service] = hosts
}

func (f *fakeNacos) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[r.Method+" "+r.URL.Path]++
	q := r.URL.Query()
	switch r.URL.Path {
	case "/nacos/v1/ns/service/list":
		group := q.Get("groupName")
		pageNo, _ := strconv.Atoi(q.Get("pageNo"))
		pageSize, _ := strconv.Atoi(q.Get("pageSize"))
		f.pageSizes = append(f.pageSizes, pageSize)
		var names []string
		for k := range f.services {
			if g, s, _ := strings.Cut(k, "@@"); g == group {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		count := len(names)
		if f.polaris {
			rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
			count += f.namespaceN
		}
		from, to := (pageNo-1)*pageSize, pageNo*pageSize
		if from > len(names) {
			if f.polaris {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			from = len(names)
		}
		page := append([]string{}, names[from:min(to, len(names))]...)
		if f.polaris && to <= count {
			for len(page) < pageSize {
				page = append(page, "")
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"count": count, "doms": page})
	case "/nacos/v1/ns/instance/list":
		_ = json.NewEncoder(w).Encode(map[string]any{"name": q.Get("serviceName"), "hosts": f.services[q.Get("serviceName")]})
	default:
		http.NotFound(w, r)
	}
}

func host(ip string, port uint64, kv ...string) Instance {
	meta := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		meta[kv[i]] = kv[i+1]
	}
	return Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func source(t *testing.T, cfg registry.Config) *httpSource {
	t.Helper()
	cfg.Protocol = Protocol
	s, _, err := settingsOf(cfg, registry.Env{Name: "test", Logger: quiet})
	require.NoError(t, err)
	src, err := newHTTPSource(s, registry.Env{})
	require.NoError(t, err)
	t.Cleanup(src.Close)
	return src.(*httpSource)
}

// sink is a listener keeping the routed endpoints.
type sink struct {
	mu        sync.Mutex
	endpoints map[string]*model.Endpoint
}

func (s *sink) OnAddEndpoint(ev registry.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[ev.Cluster+"/"+ev.Endpoint.ID] = ev.Endpoint
	return nil
}

func (s *sink) OnRemoveEndpoint(ev registry.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.endpoints, ev.Cluster+"/"+ev.Endpoint.ID)
}

func (s *sink) Batch(fn func())                        { fn() }
func (s *sink) OnRejections([]*registry.MetadataError) {}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.endpoints)
}

// Every service is listed, past the first page, with the page size asked for.
func TestEveryServiceIsListedPastTheFirstPage(t *testing.T) {
	for _, pageSize := range []int{0 /* default */, 10, 7} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			f := newFakeNacos(t)
			for i, s := range names("svc", 35) {
				f.set("g", s, host(fmt.Sprintf("10.0.0.%d", i), 80, "cluster", "chat", "id", s))
			}
			got, err := source(t, registry.Config{Address: f.addr(), Group: "g", PageSize: pageSize}).ListServices(t.Context())
			require.NoError(t, err)
			assert.Equal(t, names("svc", 35), got)
			f.mu.Lock()
			defer f.mu.Unlock()
			assert.NotContains(t, f.pageSizes, 0, "a page size is always given")
			if pageSize == 0 {
				assert.Equal(t, registry.DefaultPageSize, f.pageSizes[0])
			}
		})
	}
}

// Polaris: shuffled order, namespace-wide count, padded pages, an error past the group's end.
func TestPolarisServiceListQuirks(t *testing.T) {
	f := newFakeNacos(t)
	f.polaris = true
	f.namespaceN = 40 // services of other groups
	for i, s := range names("svc", 25) {
		f.set("g", s, host(fmt.Sprintf("10.0.0.%d", i), 80))
	}
	src := source(t, registry.Config{Address: f.addr(), Group: "g", PageSize: 50})
	for range 5 {
		got, err := src.ListServices(t.Context())
		require.NoError(t, err, "the padded page ends the listing")
		assert.Equal(t, names("svc", 25), got)
	}
}

// Polaris with more services than a page: its order changes on every call, so pages would skip
// some services. The list is read again as one page of the server's count, and that size is
// kept: every service, every time, in one call per listing after the first.
func TestPolarisShuffledListLongerThanAPage(t *testing.T) {
	f := newFakeNacos(t)
	f.polaris = true
	for i, s := range names("svc", 35) {
		f.set("g", s, host(fmt.Sprintf("10.0.0.%d", i), 80))
	}
	src := source(t, registry.Config{Address: f.addr(), Group: "g", PageSize: 10})
	for range 5 {
		got, err := src.ListServices(t.Context())
		require.NoError(t, err)
		assert.Equal(t, names("svc", 35), got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, 6, f.calls["GET /nacos/v1/ns/service/list"], "two calls the first time, then one")
	assert.Equal(t, []int{10, 35, 35, 35, 35, 35}, f.pageSizes)
}

// The whole watch on the HTTP transport: changes are found by reading, nothing else.
func TestHTTPWatchFindsChangesByReading(t *testing.T) {
	f := newFakeNacos(t)
	f.set("g", "ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a", "llm-meta.api_key", "sk-old"))
	reg, err := New(registry.Config{Protocol: Protocol, Address: f.addr(), Group: "g", RefreshInterval: 100 * time.Millisecond},
		registry.Env{Name: "test", Logger: quiet})
	require.NoError(t, err)
	s := &sink{endpoints: map[string]*model.Endpoint{}}
	reg.Start(s)
	defer reg.Stop()
	require.Eventually(t, func() bool { return s.count() == 1 }, waitFor, tick)
	f.set("g", "ds", host("10.0.0.1", 80, "cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new"))
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.endpoints["chat/a"].LLMMeta.APIKey == "sk-new"
	}, waitFor, tick)
	reg.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for call := range f.calls {
		assert.Contains(t, []string{"GET /nacos/v1/ns/service/list", "GET /nacos/v1/ns/instance/list"}, call, "no other call")
	}
	assert.InDelta(t, f.calls["GET /nacos/v1/ns/service/list"], f.calls["GET /nacos/v1/ns/instance/list"], 1,
		"one instance-list read per service-list read")
}

// A server refusing the 1.x API: the error names the registry, the address and the fix.
func TestRefusedLegacyAPINamesTheFix(t *testing.T) {
	for name, answer := range map[string]func(http.ResponseWriter){
		"404": func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) },
		"410": func(w http.ResponseWriter) { w.WriteHeader(http.StatusGone) },
		"501": func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotImplemented) },
		"deprecated": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("API v1 is deprecated"))
		},
		"200 not supported": func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("this api is not supported, use v2"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { answer(w) }))
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			reg, err := New(registry.Config{Protocol: Protocol, Address: addr, RefreshInterval: 100 * time.Millisecond},
				registry.Env{Name: "nacos3", Logger: quiet})
			require.NoError(t, err)
			reg.Start(&sink{endpoints: map[string]*model.Endpoint{}})
			defer reg.Stop()
			require.Eventually(t, func() bool { return reg.Health().LastError != "" }, waitFor, tick)
			msg := reg.Health().LastError
			assert.Contains(t, msg, `"nacos3"`)
			assert.Contains(t, msg, addr)
			assert.Contains(t, msg, "transport: grpc")
		})
	}
}

func TestUnknownTransportIsAConfigError(t *testing.T) {
	_, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848", Transport: "carrier-pigeon"}, registry.Env{Name: "x", Logger: quiet})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"carrier-pigeon"`)
	assert.Contains(t, err.Error(), "http")
}

func TestStopIsIdempotentAndWorksWithoutStart(t *testing.T) {
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:1"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	reg.Stop()
	reg.Stop()
	reg.Start(&sink{endpoints: map[string]*model.Endpoint{}}) // after Stop: does nothing
	reg.Stop()
}

func TestStartDoesNotBlockOnAnUnreachableRegistry(t *testing.T) {
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond}, registry.Env{Name: "down", Logger: quiet})
	require.NoError(t, err)
	began := time.Now()
	reg.Start(&sink{endpoints: map[string]*model.Endpoint{}})
	assert.Less(t, time.Since(began), 100*time.Millisecond)
	require.Eventually(t, func() bool { return reg.Health().LastError != "" }, waitFor, tick)
	assert.False(t, reg.Health().Reachable)
	reg.Stop()
}

// Stop does not wait for a registry that hangs: requests in flight are cancelled.
func TestStopCancelsRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	reg, err := New(registry.Config{Protocol: Protocol, Address: strings.TrimPrefix(srv.URL, "http://"), Timeout: time.Minute},
		registry.Env{Name: "hang", Logger: quiet})
	require.NoError(t, err)
	reg.Start(&sink{endpoints: map[string]*model.Endpoint{}})
	time.Sleep(100 * time.Millisecond) // the first list call is in flight
	began := time.Now()
	reg.Stop()
	assert.Less(t, time.Since(began), 5*time.Second, "Stop waited for a one-minute registry timeout")
}

func TestConfigValidation(t *testing.T) {
	ok := registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}
	for name, edit := range map[string]func(*registry.Config){
		"no address":        func(c *registry.Config) { c.Address = " " },
		"bad port":          func(c *registry.Config) { c.Address = "127.0.0.1:0" },
		"port not a number": func(c *registry.Config) { c.Address = "127.0.0.1:http" },
		"bad scheme":        func(c *registry.Config) { c.Address = "ftp://127.0.0.1:8848" },
		"negative timeout":  func(c *registry.Config) { c.Timeout = -time.Second },
		"tiny timeout":      func(c *registry.Config) { c.Timeout = time.Microsecond },
		"tiny interval":     func(c *registry.Config) { c.RefreshInterval = time.Millisecond },
		"negative page":     func(c *registry.Config) { c.PageSize = -1 },
		"negative grace":    func(c *registry.Config) { c.ForgetGrace = -time.Second },
	} {
		cfg := ok
		edit(&cfg)
		_, err := New(cfg, registry.Env{Name: "x", Logger: quiet})
		assert.Error(t, err, name)
	}
	reg, err := New(ok, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	reg.Stop()
}

func TestEnvAddressOverridesTheConfig(t *testing.T) {
	t.Setenv(EnvAddress, "10.9.9.9:8848,10.9.9.10")
	s, _, err := settingsOf(registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	assert.Equal(t, "10.9.9.9:8848,10.9.9.10", s.Address)
	require.Len(t, s.Servers, 2)
	assert.Equal(t, "10.9.9.9", s.Servers[0].Host)
	assert.Equal(t, 8848, s.Servers[1].Port)

	t.Setenv(EnvAddress, "")
	reg, err := New(registry.Config{Protocol: Protocol, Address: "127.0.0.1:8848"}, registry.Env{Name: "x", Logger: quiet})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8848", reg.Health().Address, "an empty variable overrides nothing")
	reg.Stop()
}

func TestParseAddresses(t *testing.T) {
	got, err := ParseAddresses(" 127.0.0.1:8848, nacos.local ,https://nacos.example.com:9443/ctx/, [::1]:8848")
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, "http://127.0.0.1:8848/nacos", got[0].base())
	assert.Equal(t, "http://nacos.local:8848/nacos", got[1].base(), "default port")
	assert.Equal(t, "https://nacos.example.com:9443/ctx", got[2].base())
	assert.Equal(t, "[::1]", got[3].Host)
	for _, bad := range []string{"", " , ", "host:99999", "host:-1", "ho st:80", "user@host:80"} {
		_, err := ParseAddresses(bad)
		assert.Error(t, err, bad)
	}
}

var _ base.Source = (*httpSource)(nil)
