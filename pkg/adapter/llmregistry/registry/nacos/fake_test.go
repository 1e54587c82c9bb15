package nacos

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"dubbo.apache.org/dubbo-go/v3/remoting"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/vo"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	pmodel "github.com/pixiu-llm/gateway/pkg/model"
)

type callback = func([]model.SubscribeService, error)

// fakeNaming stands in for the SDK with the SDK's own contract: a page size of 0 means 10,
// callbacks are identified by the address of the SubscribeParam's func field (so unsubscribing
// with a fresh param removes nothing), and Subscribe calls the callback once.
type fakeNaming struct {
	mu        sync.Mutex
	instances map[string][]model.Instance // service → instances; a key present = listed
	callbacks map[string][]*callback
	listErr   error
	queryErr  map[string]error
	subErr    error
	subErrFor map[string]error
	// polaris mimics Polaris' service list: order shuffled per call, count of the whole namespace,
	// pages padded with empty names, and an error when asked for a page past the group's end.
	polaris     bool
	namespaceN  int
	pageSizes   []uint32
	unsubscribe int
}

func newFake() *fakeNaming {
	return &fakeNaming{instances: map[string][]model.Instance{}, callbacks: map[string][]*callback{}, queryErr: map[string]error{}, subErrFor: map[string]error{}}
}

func (f *fakeNaming) GetAllServicesInfo(p vo.GetAllServiceInfoParam) (model.ServiceList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageSizes = append(f.pageSizes, p.PageSize)
	if f.listErr != nil {
		return model.ServiceList{}, f.listErr
	}
	if p.PageNo == 0 {
		p.PageNo = 1
	}
	if p.PageSize == 0 {
		p.PageSize = 10
	}
	names := make([]string, 0, len(f.instances))
	for s := range f.instances {
		names = append(names, s)
	}
	sort.Strings(names)
	count := int64(len(names))
	if f.polaris {
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		count = int64(len(names) + f.namespaceN)
	}
	from := int(p.PageNo-1) * int(p.PageSize)
	to := from + int(p.PageSize)
	if from > len(names) {
		if f.polaris {
			return model.ServiceList{}, errors.New("request return error code 500")
		}
		return model.ServiceList{Count: count}, nil
	}
	page := make([]string, 0, p.PageSize)
	page = append(page, names[from:min(to, len(names))]...)
	if f.polaris && int64(to) <= count {
		for len(page) < int(p.PageSize) {
			page = append(page, "")
		}
	}
	return model.ServiceList{Count: count, Doms: page}, nil
}

func (f *fakeNaming) Subscribe(p *vo.SubscribeParam) error {
	f.mu.Lock()
	f.callbacks[p.ServiceName] = append(f.callbacks[p.ServiceName], &p.SubscribeCallback)
	err := f.subErr
	if e := f.subErrFor[p.ServiceName]; e != nil {
		err = e
	}
	hosts := f.instances[p.ServiceName]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	p.SubscribeCallback(toSubscribeServices(hosts), nil)
	return nil
}

func (f *fakeNaming) Unsubscribe(p *vo.SubscribeParam) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unsubscribe++
	var keep []*callback
	for _, cb := range f.callbacks[p.ServiceName] {
		if cb != &p.SubscribeCallback {
			keep = append(keep, cb)
		}
	}
	if len(keep) == 0 {
		delete(f.callbacks, p.ServiceName)
	} else {
		f.callbacks[p.ServiceName] = keep
	}
	return nil
}

func (f *fakeNaming) QueryInstances(service, _ string) ([]model.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.queryErr[service]; err != nil {
		return nil, err
	}
	return append([]model.Instance(nil), f.instances[service]...), nil
}

func (f *fakeNaming) Close() {}

// set replaces a service's instances without any push.
func (f *fakeNaming) set(service string, hosts ...model.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[service] = hosts
}

// drop removes a service from the list and its instances.
func (f *fakeNaming) drop(service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.instances, service)
}

// push calls the service's callbacks as the SDK does on a change.
func (f *fakeNaming) push(service string) {
	f.mu.Lock()
	cbs := append([]*callback(nil), f.callbacks[service]...)
	hosts := f.instances[service]
	f.mu.Unlock()
	for _, cb := range cbs {
		(*cb)(toSubscribeServices(hosts), nil)
	}
}

func (f *fakeNaming) callbackCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, cbs := range f.callbacks {
		n += len(cbs)
	}
	return n
}

func (f *fakeNaming) setListErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErr = err
}

func toSubscribeServices(hosts []model.Instance) []model.SubscribeService {
	out := make([]model.SubscribeService, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, model.SubscribeService{Ip: h.Ip, Port: h.Port, Metadata: h.Metadata, Healthy: h.Healthy, Enable: h.Enable, Weight: h.Weight})
	}
	return out
}

func host(ip string, port uint64, kv ...string) model.Instance {
	meta := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		meta[kv[i]] = kv[i+1]
	}
	return model.Instance{Ip: ip, Port: port, Weight: 1, Healthy: true, Enable: true, Ephemeral: true, Metadata: meta}
}

// sink is the listener: the endpoints it holds are what the gateway would route to.
type sink struct {
	mu         sync.Mutex
	endpoints  map[string]*pmodel.Endpoint
	rejections []*registry.MetadataError
}

func newSink() *sink { return &sink{endpoints: map[string]*pmodel.Endpoint{}} }

func (s *sink) OnEndpointEvent(ev registry.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ev.Cluster + "/" + ev.Endpoint.ID
	if ev.Type == remoting.EventTypeDel {
		delete(s.endpoints, k)
	} else {
		s.endpoints[k] = ev.Endpoint
	}
	return nil
}

func (s *sink) OnRejections(rs []*registry.MetadataError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejections = rs
}

func (s *sink) get(k string) *pmodel.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpoints[k]
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.endpoints)
}

// watchFake starts a registry on the fake, stopped at the end of the test.
func watchFake(t *testing.T, f *fakeNaming, cfg registry.Config, m *metrics.Metrics) (*Registry, *sink) {
	t.Helper()
	s := newSink()
	return startOn(t, f, cfg, registry.Env{Name: "test", Metrics: m}, s), s
}

func startOn(t *testing.T, f *fakeNaming, cfg registry.Config, env registry.Env, l registry.Listener) *Registry {
	t.Helper()
	cfg.Protocol = Protocol
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:8848"
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 100 * time.Millisecond
	}
	if env.Logger == nil {
		env.Logger = quiet
	}
	reg, err := New(cfg, env)
	require.NoError(t, err)
	r := reg.(*Registry)
	r.connect = func(context.Context) (namingClient, error) { return f, nil }
	r.Start(l)
	t.Cleanup(r.Stop)
	return r
}

var quiet = slog.New(slog.DiscardHandler)

const (
	waitFor = 5 * time.Second
	tick    = 10 * time.Millisecond
)
