package base_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// recorder is a Listener that keeps the resulting endpoints and the events that made them.
type recorder struct {
	mu         sync.Mutex
	events     []string
	endpoints  map[string]*model.Endpoint // "cluster/id"
	rejections [][]*registry.MetadataError
	refuse     func(registry.Event) error
	batches    int
}

func newRecorder() *recorder { return &recorder{endpoints: map[string]*model.Endpoint{}} }

func (r *recorder) OnAddEndpoint(ev registry.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		if err := r.refuse(ev); err != nil {
			return err
		}
	}
	k := ev.Cluster + "/" + ev.Endpoint.ID
	typ := "add"
	if r.endpoints[k] != nil {
		typ = "update"
	}
	r.events = append(r.events, fmt.Sprintf("%s %s", typ, k))
	r.endpoints[k] = ev.Endpoint
	return nil
}

func (r *recorder) OnRemoveEndpoint(ev registry.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := ev.Cluster + "/" + ev.Endpoint.ID
	if r.endpoints[k] == nil {
		return // not applied (refused): nothing to remove
	}
	r.events = append(r.events, "delete "+k)
	delete(r.endpoints, k)
}

func (r *recorder) Batch(fn func()) {
	r.mu.Lock()
	r.batches++
	r.mu.Unlock()
	fn()
}

func (r *recorder) OnRejections(rs []*registry.MetadataError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejections = append(r.rejections, rs)
}

// take returns the events since the last call.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func (r *recorder) endpoint(key string) *model.Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endpoints[key]
}

func (r *recorder) lastRejections() []*registry.MetadataError {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rejections) == 0 {
		return nil
	}
	return r.rejections[len(r.rejections)-1]
}

func inst(ip string, port int, meta map[string]string) registry.Instance {
	return registry.Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta}
}

func meta(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestAddUnchangedUpdateRemove(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)

	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a"))})
	assert.Equal(t, []string{"add chat/a"}, r.take())

	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a"))})
	assert.Empty(t, r.take(), "an unchanged list produces no event")

	for _, change := range []map[string]string{
		meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new"),
		meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new", "llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times":2}`),
		meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new", "llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times":2}`, "llm-meta.fallback", "true"),
		meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new", "llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times":2}`, "llm-meta.fallback", "true", "address", "api.example.com"),
		meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-new", "llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times":2}`, "llm-meta.fallback", "true", "address", "api.example.com", "name", "A"),
	} {
		tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, change)})
		assert.Equal(t, []string{"update chat/a"}, r.take(), "change %v", change)
	}
	ep := r.endpoint("chat/a")
	require.NotNil(t, ep)
	assert.Equal(t, "sk-new", ep.LLMMeta.APIKey, "an update carries the whole endpoint, LLM settings included")
	assert.Equal(t, "CountBased", ep.LLMMeta.RetryPolicy.Name)
	assert.True(t, ep.LLMMeta.Fallback)
	assert.Equal(t, []string{"api.example.com"}, ep.Address.Domains)

	in := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a"))
	in.Weight = 5
	tr.Sync("ds", []registry.Instance{in})
	assert.Equal(t, []string{"update chat/a"}, r.take(), "weight change")
	assert.Equal(t, 5.0, r.endpoint("chat/a").Weight)

	tr.Sync("ds", []registry.Instance{in, inst("10.0.0.2", 80, meta("cluster", "chat", "id", "b"))})
	assert.Equal(t, []string{"add chat/b"}, r.take())
	tr.Sync("ds", []registry.Instance{inst("10.0.0.2", 80, meta("cluster", "chat", "id", "b"))})
	assert.Equal(t, []string{"delete chat/a"}, r.take(), "one of two leaves")
	tr.Sync("ds", nil)
	assert.Equal(t, []string{"delete chat/b"}, r.take(), "the last instance leaves")
}

func TestForgetRemovesEveryEndpointOfTheService(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	tr.Sync("ds", []registry.Instance{
		inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a")),
		inst("10.0.0.2", 80, meta("cluster", "embed", "id", "b")),
	})
	tr.Sync("other", []registry.Instance{inst("10.0.0.3", 80, meta("cluster", "chat", "id", "c"))})
	r.take()
	assert.Equal(t, []string{"ds", "other"}, tr.Services())
	tr.Forget("ds")
	assert.Equal(t, []string{"delete chat/a", "delete embed/b"}, r.take())
	assert.Equal(t, []string{"other"}, tr.Services())
	tr.Forget("ds")
	assert.Empty(t, r.take(), "forgetting twice is harmless")
}

func TestClusterMoveIsRemoveThenAdd(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "b-cluster", "id", "a"))})
	r.take()
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "a-cluster", "id", "a"))})
	assert.Equal(t, []string{"delete b-cluster/a", "add a-cluster/a"}, r.take(), "removed from the old cluster first, whatever the names sort like")

	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "a-cluster", "id", "renamed"))})
	assert.Equal(t, []string{"delete a-cluster/a", "add a-cluster/renamed"}, r.take(), "an id change is a different endpoint")
}

func TestNotServingInstancesCarryNoTraffic(t *testing.T) {
	for name, edit := range map[string]func(*registry.Instance){
		"disabled":  func(in *registry.Instance) { in.Enabled = false },
		"unhealthy": func(in *registry.Instance) { in.Healthy = false },
		"weight 0":  func(in *registry.Instance) { in.Weight = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			r := newRecorder()
			tr := base.New(r)
			in := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a"))
			tr.Sync("ds", []registry.Instance{in})
			assert.Equal(t, []string{"add chat/a"}, r.take())
			off := in
			edit(&off)
			tr.Sync("ds", []registry.Instance{off})
			assert.Equal(t, []string{"delete chat/a"}, r.take())
			tr.Sync("ds", []registry.Instance{in})
			assert.Equal(t, []string{"add chat/a"}, r.take(), "back in service")

			r2 := newRecorder()
			base.New(r2).Sync("ds", []registry.Instance{off})
			assert.Empty(t, r2.take(), "never added while not serving")
		})
	}
}

func TestLastKnownGoodOnInvalidMetadata(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	good := meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-1")
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, good)})
	assert.Equal(t, []string{"add chat/a"}, r.take())
	assert.Empty(t, r.lastRejections())

	bad := meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-2", "port", "99999")
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, bad)})
	assert.Empty(t, r.take(), "the valid version stays routed")
	assert.Equal(t, "sk-1", r.endpoint("chat/a").LLMMeta.APIKey)
	rej := r.lastRejections()
	require.Len(t, rej, 1)
	assert.Equal(t, registry.MetadataError{Service: "ds", Instance: "10.0.0.1:80", Key: "port", Reason: rej[0].Reason}, *rej[0])

	calls := len(r.rejections)
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, bad)})
	assert.Len(t, r.rejections, calls, "an unchanged rejection is not reported again")

	fixed := meta("cluster", "chat", "id", "a", "llm-meta.api_key", "sk-3")
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, fixed)})
	assert.Equal(t, []string{"update chat/a"}, r.take())
	assert.Equal(t, "sk-3", r.endpoint("chat/a").LLMMeta.APIKey)
	assert.Empty(t, r.lastRejections(), "the rejection clears once fixed")

	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, bad)})
	r.take()
	tr.Sync("ds", nil)
	assert.Equal(t, []string{"delete chat/a"}, r.take(), "a rejected instance that leaves takes its last good endpoint along")
	assert.Empty(t, r.lastRejections())
}

func TestInvalidFromTheStartIsReportedNotRouted(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	tr.Sync("ds", []registry.Instance{
		inst("10.0.0.1", 80, meta("id", "a")),
		inst("10.0.0.2", 80, meta("cluster", "chat", "id", "b", "llm-meta.retry_policy.name", "Sometimes")),
	})
	assert.Empty(t, r.take())
	rej := r.lastRejections()
	require.Len(t, rej, 2)
	assert.Equal(t, "cluster", rej[0].Key)
	assert.Equal(t, "10.0.0.1:80", rej[0].Instance)
	assert.Equal(t, "llm-meta.retry_policy.name", rej[1].Key)
}

func TestDuplicateClusterIDHasADeterministicWinner(t *testing.T) {
	a := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "dup", "name", "from-a"))
	b := inst("10.0.0.2", 80, meta("cluster", "chat", "id", "dup", "name", "from-b"))
	for _, order := range [][]string{{"svc-a", "svc-b"}, {"svc-b", "svc-a"}} {
		r := newRecorder()
		tr := base.New(r)
		for _, s := range order {
			if s == "svc-a" {
				tr.Sync("svc-a", []registry.Instance{a})
			} else {
				tr.Sync("svc-b", []registry.Instance{b})
			}
		}
		assert.Equal(t, "from-a", r.endpoint("chat/dup").Name, "order %v: the smallest (service, instance) wins", order)
		rej := r.lastRejections()
		require.Len(t, rej, 1)
		assert.Equal(t, "svc-b", rej[0].Service)
		assert.Equal(t, "id", rej[0].Key)
		assert.Contains(t, rej[0].Reason, "svc-a")

		r.take()
		tr.Forget("svc-a")
		assert.Equal(t, []string{"update chat/dup"}, r.take(), "the other claimant takes over")
		assert.Equal(t, "from-b", r.endpoint("chat/dup").Name)
		assert.Empty(t, r.lastRejections())
	}

	r := newRecorder()
	tr := base.New(r)
	tr.Sync("svc", []registry.Instance{b, a})
	assert.Equal(t, "from-a", r.endpoint("chat/dup").Name, "inside one service too")
	require.Len(t, r.lastRejections(), 1)
	assert.Equal(t, "10.0.0.2:80", r.lastRejections()[0].Instance)
}

func TestRefusedChangeIsReportedAndRetried(t *testing.T) {
	r := newRecorder()
	refuse := true
	r.refuse = func(ev registry.Event) error {
		if refuse && ev.Endpoint.ID == "static-id" {
			return errors.New(`endpoint id "static-id" already belongs to source "static"`)
		}
		return nil
	}
	tr := base.New(r)
	in := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "static-id"))
	tr.Sync("ds", []registry.Instance{in})
	assert.Empty(t, r.take())
	rej := r.lastRejections()
	require.Len(t, rej, 1)
	assert.Equal(t, "id", rej[0].Key)
	assert.Contains(t, rej[0].Reason, "refused by the gateway")
	assert.Contains(t, rej[0].Reason, "static")

	r.mu.Lock()
	refuse = false
	r.mu.Unlock()
	tr.Sync("ds", []registry.Instance{in})
	assert.Equal(t, []string{"add chat/static-id"}, r.take(), "tried again on the next read")
	assert.Empty(t, r.lastRejections())

	// A refused update keeps the previous version.
	r.mu.Lock()
	refuse = true
	r.mu.Unlock()
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "chat", "id", "static-id", "name", "new"))})
	assert.Empty(t, r.take())
	assert.Equal(t, "static-id", r.endpoint("chat/static-id").Name)
	require.Len(t, r.lastRejections(), 1)
}

func TestDuplicateIPPortInOneServiceIsKeptApart(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	x := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "x"))
	x.InstanceID = "1"
	y := inst("10.0.0.1", 80, meta("cluster", "chat", "id", "y"))
	y.InstanceID = "2"
	tr.Sync("ds", []registry.Instance{x, y})
	assert.ElementsMatch(t, []string{"add chat/x", "add chat/y"}, r.take())
}

func TestCloseStopsDeliveries(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	tr.Close()
	tr.Sync("ds", []registry.Instance{inst("10.0.0.1", 80, meta("cluster", "chat", "id", "a"))})
	tr.Forget("ds")
	assert.Empty(t, r.take())
}

func TestConcurrentSyncsOfDifferentServices(t *testing.T) {
	r := newRecorder()
	tr := base.New(r)
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			service := fmt.Sprintf("svc-%d", s)
			for round := 0; round < 50; round++ {
				var list []registry.Instance
				for i := 0; i < round%4; i++ {
					list = append(list, inst(fmt.Sprintf("10.0.%d.%d", s, i), 80, meta("cluster", "chat", "id", fmt.Sprintf("%s-%d", service, i))))
				}
				tr.Sync(service, list)
			}
			tr.Sync(service, []registry.Instance{inst(fmt.Sprintf("10.0.%d.9", s), 80, meta("cluster", "chat", "id", service))})
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Len(t, r.endpoints, 8, "after the dust settles each service has exactly its last instance")
}
