package server

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func endpoint(id, addr string, key string) *model.Endpoint {
	return &model.Endpoint{
		ID:      id,
		Address: model.SocketAddress{Address: addr, Port: 80},
		LLMMeta: &model.LLMMeta{APIKey: key, HealthCheckInterval: 1000},
	}
}

func TestClusterManagerSetReplacesWholeEndpoint(t *testing.T) {
	cm, err := NewClusterManager(nil, nil)
	require.NoError(t, err)
	require.NoError(t, cm.SetEndpoint("chat", endpoint("a", "10.0.0.1", "k1")))
	before := cm.Cluster("chat")
	require.NotNil(t, before)
	assert.Equal(t, model.LoadBalancerRoundRobin, before.LbPolicy, "a cluster created on demand gets a default policy")

	updated := endpoint("a", "10.0.0.2", "k2")
	updated.LLMMeta.Fallback = true
	updated.LLMMeta.RetryPolicy = model.RetryPolicy{Name: "noretry"}
	require.NoError(t, cm.SetEndpoint("chat", updated))

	after := cm.Cluster("chat")
	require.Len(t, after.Members, 1)
	m := after.Members[0]
	assert.Equal(t, "10.0.0.2", m.Endpoint.Address.Address)
	assert.Equal(t, []string{"k2"}, m.Keys, "the api key is replaced, not only the address")
	assert.True(t, m.Fallback(), "fallback is replaced")
	assert.Equal(t, "NoRetry", m.Retry.Name())
	assert.Same(t, before.Members[0].Health, m.Health, "passive health survives an update")
	assert.Equal(t, "10.0.0.1", before.Members[0].Endpoint.Address.Address, "the old snapshot is untouched")

	updated.Address.Address = "mutated-by-caller"
	assert.Equal(t, "10.0.0.2", cm.Cluster("chat").Members[0].Endpoint.Address.Address, "the manager keeps its own copy")
}

func TestClusterManagerDelete(t *testing.T) {
	cm, err := NewClusterManager(nil, nil)
	require.NoError(t, err)
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, cm.SetEndpoint("chat", endpoint(id, "10.0.0.1", "")))
	}
	require.NoError(t, cm.DeleteEndpoint("chat", "b"))
	require.NoError(t, cm.DeleteEndpoint("chat", "missing"))
	require.NoError(t, cm.DeleteEndpoint("nocluster", "a"))
	c := cm.Cluster("chat")
	require.Len(t, c.Members, 2)
	assert.Equal(t, "a", c.Members[0].ID())
	assert.Equal(t, "c", c.Members[1].ID())
	assert.Equal(t, 1, c.Members[1].Index, "members are re-indexed for fallback order")
}

func TestClusterManagerSourcesDoNotOverwriteEachOther(t *testing.T) {
	cm, err := NewClusterManager([]*model.ClusterConfig{{
		Name: "chat", LbStr: "RoundRobin", Endpoints: []*model.Endpoint{endpoint("static-1", "10.0.0.1", "")},
	}}, nil)
	require.NoError(t, err)
	reg := cm.ForSource("llm-registry")

	err = reg.SetEndpoint("chat", endpoint("static-1", "10.9.9.9", ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `endpoint id "static-1" already belongs to source "static"`)
	assert.Equal(t, "10.0.0.1", cm.Cluster("chat").Members[0].Endpoint.Address.Address)

	err = reg.DeleteEndpoint("chat", "static-1")
	require.Error(t, err)
	assert.Len(t, cm.Cluster("chat").Members, 1)

	require.NoError(t, reg.SetEndpoint("chat", endpoint("dyn-1", "10.0.0.2", "")))
	c := cm.Cluster("chat")
	require.Len(t, c.Members, 2)
	assert.Equal(t, cluster.SourceStatic, c.Members[0].Source)
	assert.Equal(t, "llm-registry", c.Members[1].Source)
	require.NoError(t, reg.DeleteEndpoint("chat", "dyn-1"))
	assert.Len(t, cm.Cluster("chat").Members, 1)
}

func TestClusterManagerRejectsInvalidEndpoint(t *testing.T) {
	cm, err := NewClusterManager(nil, nil)
	require.NoError(t, err)
	require.NoError(t, cm.SetEndpoint("chat", endpoint("a", "10.0.0.1", "")))

	bad := endpoint("a", "10.0.0.2", "")
	bad.LLMMeta.RetryPolicy.Name = "Forever"
	err = cm.SetEndpoint("chat", bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cluster "chat" endpoint "a"`)
	assert.Contains(t, err.Error(), `unknown retry policy "Forever"`)
	assert.Equal(t, "10.0.0.1", cm.Cluster("chat").Members[0].Endpoint.Address.Address, "the working endpoint is kept")

	assert.Error(t, cm.SetEndpoint("chat", &model.Endpoint{ID: "no-address"}))
	assert.ErrorContains(t, cm.SetEndpoint("chat", &model.Endpoint{ID: "ftp", Address: model.SocketAddress{Domains: []string{"ftp://files.example"}}}),
		`scheme "ftp" is not http or https`)
	assert.Error(t, cm.SetEndpoint("", endpoint("x", "10.0.0.1", "")))
	assert.Error(t, cm.SetEndpoint("chat", &model.Endpoint{}))
}

func TestPickSkipsCoolingMembers(t *testing.T) {
	cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "chat", LbStr: "RoundRobin", Endpoints: []*model.Endpoint{
		endpoint("a", "10.0.0.1", ""), endpoint("b", "10.0.0.2", ""), endpoint("c", "10.0.0.3", ""),
	}}}, nil)
	require.NoError(t, err)
	c := cm.Cluster("chat")
	now := time.Now()
	c.Member("b").Health.CoolDownUntil(now.Add(time.Minute))

	seen := map[string]int{}
	for i := 0; i < 3000; i++ {
		seen[c.Pick(now).ID()]++
	}
	assert.Len(t, seen, 2, "the cooling member is never picked")
	// The cooling member's share spreads over the others instead of doubling its neighbour's.
	assert.InDelta(t, 1500, seen["a"], 200)
	assert.InDelta(t, 1500, seen["c"], 200)

	assert.Equal(t, []string{"c", "b"}, ids(c.After(c.Member("a"), now)), "cooling members come last in fallback order")
	assert.Equal(t, []string{"a", "b"}, ids(c.After(c.Member("c"), now)), "fallback from the last member wraps to the first")
	assert.Equal(t, []string{"c", "a"}, ids(c.After(c.Member("b"), now)))

	for _, id := range []string{"a", "c"} {
		c.Member(id).Health.CoolDownUntil(now.Add(time.Minute))
	}
	assert.NotNil(t, c.Pick(now), "when every member cools down, one is still picked")
	assert.False(t, c.Member("a").Health.CoolingDown(now.Add(2*time.Minute)))
}

func TestWeightRandomHonoursWeights(t *testing.T) {
	heavy, light := endpoint("heavy", "10.0.0.1", ""), endpoint("light", "10.0.0.2", "")
	heavy.Weight, light.Weight = 9, 1
	cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "w", LbStr: "WeightRandom", Endpoints: []*model.Endpoint{heavy, light}}}, nil)
	require.NoError(t, err)
	c := cm.Cluster("w")
	counts := map[string]int{}
	for i := 0; i < 10000; i++ {
		counts[c.Pick(time.Now()).ID()]++
	}
	// Expected 9000/1000; the bounds are many standard deviations wide.
	assert.InDelta(t, 9000, counts["heavy"], 400)
	assert.InDelta(t, 1000, counts["light"], 400)

	// With the heavy member cooling down, the others share by their own weights.
	mid := endpoint("mid", "10.0.0.3", "")
	mid.Weight = 3
	require.NoError(t, cm.SetEndpoint("w", mid))
	c = cm.Cluster("w")
	c.Member("heavy").Health.CoolDownUntil(time.Now().Add(time.Hour))
	counts = map[string]int{}
	for i := 0; i < 10000; i++ {
		counts[c.Pick(time.Now()).ID()]++
	}
	assert.Zero(t, counts["heavy"])
	assert.InDelta(t, 7500, counts["mid"], 400)
	assert.InDelta(t, 2500, counts["light"], 400)
}

func TestRandPicksEveryMember(t *testing.T) {
	cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "r", LbStr: "Rand", Endpoints: []*model.Endpoint{
		endpoint("a", "10.0.0.1", ""), endpoint("b", "10.0.0.2", ""),
	}}}, nil)
	require.NoError(t, err)
	counts := map[string]int{}
	for i := 0; i < 1000; i++ {
		counts[cm.Cluster("r").Pick(time.Now()).ID()]++
	}
	assert.InDelta(t, 500, counts["a"], 150)
	assert.InDelta(t, 500, counts["b"], 150)
}

// Readers pick while writers add, update and delete. Every member a reader sees must be
// internally consistent: its address and key were written together.
func TestClusterManagerConcurrentReadersAndWriters(t *testing.T) {
	cm, err := NewClusterManager(nil, nil)
	require.NoError(t, err)
	require.NoError(t, cm.SetEndpoint("chat", endpoint("seed", "gen-0", "key-gen-0")))

	var stop atomic.Bool
	var picks atomic.Int64
	var readers sync.WaitGroup
	errs := make(chan string, 8)
	for r := 0; r < 8; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stop.Load() {
				c := cm.Cluster("chat")
				m := c.Pick(time.Now())
				if m == nil {
					continue
				}
				picks.Add(1)
				if want := "key-" + m.Endpoint.Address.Address; m.NextKey() != want {
					select {
					case errs <- fmt.Sprintf("torn read: address %s with key %s", m.Endpoint.Address.Address, m.NextKey()):
					default:
					}
				}
				if m.Index >= len(c.Members) || c.Members[m.Index] != m {
					select {
					case errs <- fmt.Sprintf("member %s has index %d in a cluster of %d", m.ID(), m.Index, len(c.Members)):
					default:
					}
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := 0; w < 2; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 2000; i++ {
				id := fmt.Sprintf("ep-%d-%d", w, i%10)
				gen := fmt.Sprintf("gen-%d-%d", w, i)
				if i%3 == 2 {
					assert.NoError(t, cm.DeleteEndpoint("chat", id))
					continue
				}
				assert.NoError(t, cm.SetEndpoint("chat", endpoint(id, gen, "key-"+gen)))
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.Positive(t, picks.Load())
}

func ids(ms []*cluster.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID()
	}
	return out
}

func BenchmarkPick(b *testing.B) {
	for _, policy := range []string{"RoundRobin", "Rand", "WeightRandom"} {
		b.Run(policy, func(b *testing.B) {
			eps := make([]*model.Endpoint, 100)
			for i := range eps {
				eps[i] = endpoint(fmt.Sprintf("ep-%d", i), "10.0.0.1", "")
				eps[i].Weight = float64(1 + i%5)
			}
			cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "bench", LbStr: policy, Endpoints: eps}}, nil)
			require.NoError(b, err)
			// A few members cooling down, as in production.
			for i := 0; i < 100; i += 10 {
				cm.Cluster("bench").Members[i].Health.CoolDownUntil(time.Now().Add(time.Hour))
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if cm.Cluster("bench").Pick(now) == nil {
						b.Fatal("no member")
					}
				}
			})
		})
	}
}

// A batch publishes one snapshot per changed cluster, whatever the number of changes, leaves
// untouched clusters as they were, and records who owns each endpoint.
func TestClusterManagerBatchPublishesOncePerCluster(t *testing.T) {
	cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "static", Endpoints: []*model.Endpoint{endpoint("s", "10.0.0.9", "")}}}, nil)
	require.NoError(t, err)
	src := cm.ForSource("llm-registry")
	snapshots := func() *map[string]*cluster.Cluster { return cm.snapshot.Load() }
	before := snapshots()
	staticBefore := cm.Cluster("static")

	src.Update(func(b adapter.Batch) {
		for i := range 50 {
			_, err := b.Set("chat", endpoint(fmt.Sprintf("c-%d", i), "10.0.0.1", ""), model.Origin{Provider: "nacos", Service: "svc", Instance: fmt.Sprint(i)})
			require.NoError(t, err)
			_, err = b.Set("embed", endpoint(fmt.Sprintf("e-%d", i), "10.0.0.2", ""), model.Origin{Provider: "nacos"})
			require.NoError(t, err)
		}
		prev, err := b.Set("chat", endpoint("c-0", "10.0.0.3", ""), model.Origin{Provider: "nacos", Service: "svc", Instance: "0"})
		require.NoError(t, err)
		assert.Equal(t, "10.0.0.1", prev.Address.Address, "the replaced endpoint is returned")
		assert.NotNil(t, b.Remove("chat", "c-1", "nacos"))
		assert.Nil(t, b.Remove("chat", "c-2", "other-registry"), "another provider's endpoint is left alone")
		assert.Nil(t, b.Remove("static", "s", "nacos"), "a static endpoint is left alone")
		_, err = b.Set("static", endpoint("s", "10.0.0.4", ""), model.Origin{Provider: "nacos"})
		assert.ErrorContains(t, err, `belongs to source "static"`)
		_, err = b.Set("chat", endpoint("c-3", "10.0.0.4", ""), model.Origin{Provider: "other-registry"})
		assert.ErrorContains(t, err, `already belongs to "nacos"`)
		_, err = b.Set("chat", &model.Endpoint{ID: "no-address"}, model.Origin{Provider: "nacos"})
		assert.Error(t, err, "an invalid endpoint is refused, the batch goes on")
		assert.Same(t, before, snapshots(), "nothing is published while the batch runs")
	})
	after := snapshots()
	assert.NotSame(t, before, after, "one publish")
	assert.Same(t, staticBefore, cm.Cluster("static"), "an unchanged cluster keeps its snapshot")
	chat := cm.Cluster("chat")
	require.Len(t, chat.Members, 49)
	assert.Equal(t, "10.0.0.3", chat.Member("c-0").Endpoint.Address.Address)
	assert.Nil(t, chat.Member("c-1"))
	for i, m := range chat.Members {
		assert.Equal(t, i, m.Index)
	}
	assert.Len(t, cm.Cluster("embed").Members, 50)
	owned := src.Endpoints()
	assert.Len(t, owned, 99)
	for _, e := range owned {
		if e.Cluster == "chat" && e.Endpoint.ID == "c-7" {
			assert.Equal(t, model.Origin{Provider: "nacos", Service: "svc", Instance: "7"}, e.Origin)
		}
	}

	src.Update(func(adapter.Batch) {})
	assert.Same(t, after, snapshots(), "an empty batch publishes nothing")
}

// Applying a batch of n changes to a cluster of m members costs O(n + m), not O(n·m).
func BenchmarkClusterManagerBatch(b *testing.B) {
	cm, _ := NewClusterManager(nil, nil)
	src := cm.ForSource("llm-registry")
	eps := make([]*model.Endpoint, 5000)
	for i := range eps {
		eps[i] = endpoint(fmt.Sprintf("e-%d", i), "10.0.0.1", "")
	}
	for b.Loop() {
		src.Update(func(batch adapter.Batch) {
			for _, ep := range eps {
				_, _ = batch.Set(fmt.Sprintf("c-%d", len(ep.ID)%50), ep, model.Origin{Provider: "nacos"})
			}
		})
	}
}
