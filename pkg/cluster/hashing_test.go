package cluster

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/model"
)

func members(n int) []*Member {
	out := make([]*Member, n)
	for i := range out {
		out[i] = &Member{Endpoint: &model.Endpoint{ID: fmt.Sprintf("ep-%d", i)}, Health: new(Health)}
	}
	return out
}

func sessionRequest(session string) *http.Request {
	r := &http.Request{Header: http.Header{}, RemoteAddr: "192.0.2.7:50123"}
	if session != "" {
		r.Header.Set("X-Session-Id", session)
	}
	return r
}

var hashingPolicies = []string{model.LoadBalancerRingHashing, model.LoadBalancerMaglevHashing}

func hashedCluster(policy string, n int) *Cluster {
	return New("chat", policy, members(n), nil, WithConsistentHash(model.ConsistentHash{Header: "x-session-id"}))
}

func TestLbPolicyIgnoresCaseUnderscoresAndDashes(t *testing.T) {
	for spelling, want := range map[string]string{
		"":              model.LoadBalancerRoundRobin,
		"RoundRobin":    model.LoadBalancerRoundRobin,
		"round_robin":   model.LoadBalancerRoundRobin,
		"roundrobin":    model.LoadBalancerRoundRobin,
		"ROUND-ROBIN":   model.LoadBalancerRoundRobin,
		"rand":          model.LoadBalancerRand,
		"weight_random": model.LoadBalancerWeightRandom,
		"RingHashing":   model.LoadBalancerRingHashing,
		"ring_hashing":  model.LoadBalancerRingHashing,
		"maglevhashing": model.LoadBalancerMaglevHashing,
	} {
		got, ok := LbPolicy(spelling)
		assert.True(t, ok, spelling)
		assert.Equal(t, want, got, spelling)
	}
	_, ok := LbPolicy("lb")
	assert.False(t, ok, "upstream's sample value is not a policy")
	_, err := ValidLbPolicy("lb")
	assert.ErrorContains(t, err, `unknown lb_policy "lb" (known: RoundRobin, Rand, WeightRandom, RingHashing, MaglevHashing)`)
}

func TestHashingKeepsOneSessionOnOneEndpointAndSpreadsSessions(t *testing.T) {
	for _, policy := range hashingPolicies {
		t.Run(policy, func(t *testing.T) {
			c := hashedCluster(policy, 5)
			now := time.Now()
			perMember := map[string]int{}
			for s := 0; s < 5000; s++ {
				r := sessionRequest("conversation-" + strconv.Itoa(s))
				first := c.PickFor(r, now)
				require.Same(t, first, c.PickFor(r, now), "the same session picks the same endpoint")
				perMember[first.ID()]++
			}
			require.Len(t, perMember, 5, "every endpoint owns sessions")
			for id, n := range perMember {
				assert.InDelta(t, 1000, n, 350, "endpoint %s owns about a fifth of the sessions", id)
			}
		})
	}
}

func TestHashingUsesTheClientAddressWithoutTheHeader(t *testing.T) {
	for _, policy := range hashingPolicies {
		t.Run(policy, func(t *testing.T) {
			c := hashedCluster(policy, 8)
			now := time.Now()
			a := &http.Request{Header: http.Header{}, RemoteAddr: "198.51.100.4:40001"}
			b := &http.Request{Header: http.Header{}, RemoteAddr: "198.51.100.4:40002"}
			assert.Same(t, c.PickFor(a, now), c.PickFor(b, now), "a new connection of the same client keeps its endpoint")
			clients := map[string]bool{}
			for i := 0; i < 200; i++ {
				r := &http.Request{Header: http.Header{}, RemoteAddr: fmt.Sprintf("198.51.100.%d:443", i)}
				clients[c.PickFor(r, now).ID()] = true
			}
			assert.Greater(t, len(clients), 4, "different clients spread over the endpoints")
		})
	}
}

func TestHashingSkipsACoolingEndpointAndReturnsWhenItRecovers(t *testing.T) {
	for _, policy := range hashingPolicies {
		t.Run(policy, func(t *testing.T) {
			c := hashedCluster(policy, 4)
			now := time.Now()
			r := sessionRequest("conversation-42")
			owner := c.PickFor(r, now)
			owner.Health.CoolDownUntil(now.Add(time.Minute))
			during := c.PickFor(r, now)
			assert.NotSame(t, owner, during, "a cooling endpoint is skipped")
			assert.Same(t, during, c.PickFor(r, now), "the substitute is stable too")
			assert.Same(t, owner, c.PickFor(r, now.Add(2*time.Minute)), "the session returns once the cooldown ended")

			for _, m := range c.Members {
				m.Health.CoolDownUntil(now.Add(time.Minute))
			}
			assert.Same(t, owner, c.PickFor(r, now), "when every endpoint cools down the owner is tried anyway")
		})
	}
}

func TestHashingWithoutARequestGoesRoundRobin(t *testing.T) {
	c := hashedCluster(model.LoadBalancerRingHashing, 3)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		seen[c.Pick(time.Now()).ID()] = true
	}
	assert.Len(t, seen, 3)
}

func TestWithMembersKeepsTheHashingSettings(t *testing.T) {
	c := New("chat", "maglev_hashing", members(3), nil,
		WithConsistentHash(model.ConsistentHash{Header: "x-user", MaglevTableSize: 101}))
	next := c.WithMembers(members(4))
	assert.Equal(t, model.LoadBalancerMaglevHashing, next.LbPolicy)
	assert.Equal(t, model.ConsistentHash{Header: "x-user", MaglevTableSize: 101}, next.ConsistentHash())
	assert.Same(t, c.Cursor(), next.Cursor())
	assert.Len(t, next.hash.(*maglev).table, 101)
}

// One endpoint of ten leaving moves the keys it owned and (for Maglev) a few more; everything
// else stays where it was, so prompt caches keep their conversations.
func TestHashingMovesAboutATenthOfTheKeysWhenOneOfTenEndpointsLeaves(t *testing.T) {
	const keys = 100_000
	for _, policy := range hashingPolicies {
		t.Run(policy, func(t *testing.T) {
			before := hashedCluster(policy, 10)
			left := before.Members[4]
			rest := append(append([]*Member(nil), before.Members[:4]...), before.Members[5:]...)
			after := before.WithMembers(rest)
			now := time.Now()
			moved, movedOthers := 0, 0
			for k := 0; k < keys; k++ {
				r := sessionRequest("user-" + strconv.Itoa(k))
				was, is := before.PickFor(r, now), after.PickFor(r, now)
				if was.ID() != is.ID() {
					moved++
					if was.ID() != left.ID() {
						movedOthers++
					}
				}
			}
			share := float64(moved) / keys
			t.Logf("%s: %.2f%% of %d keys moved when 1 of 10 endpoints left (%d of them were not on the one that left)",
				policy, 100*share, keys, movedOthers)
			assert.InDelta(t, 0.10, share, 0.03)
			if policy == model.LoadBalancerRingHashing {
				assert.Zero(t, movedOthers, "on a ring only the leaving endpoint's keys move")
			} else {
				assert.Less(t, float64(movedOthers)/keys, 0.02, "Maglev reshuffles a little beyond the leaving endpoint's keys")
			}
		})
	}
}

func TestPickForAllocatesNothing(t *testing.T) {
	for _, policy := range hashingPolicies {
		c := hashedCluster(policy, 10)
		r := sessionRequest("conversation-1")
		now := time.Now()
		assert.Zero(t, testing.AllocsPerRun(1000, func() { c.PickFor(r, now) }), policy)
	}
}

func TestValidConsistentHashNamesTheKey(t *testing.T) {
	assert.NoError(t, ValidConsistentHash(model.ConsistentHash{Header: "x-session-id", ReplicaNum: 100, MaglevTableSize: 65537}))
	assert.ErrorContains(t, ValidConsistentHash(model.ConsistentHash{MaglevTableSize: 1000}), "maglev_table_size: 1000 is not a prime")
	assert.ErrorContains(t, ValidConsistentHash(model.ConsistentHash{ReplicaNum: -1}), "replica_num: -1")
	assert.ErrorContains(t, ValidConsistentHash(model.ConsistentHash{Header: "x session"}), `header: "x session" is not a header name`)
}

// BenchmarkPickFor measures the first pick of a request on a 10-endpoint cluster.
func BenchmarkPickFor(b *testing.B) {
	for _, policy := range append([]string{model.LoadBalancerRoundRobin}, hashingPolicies...) {
		b.Run(policy, func(b *testing.B) {
			c := hashedCluster(policy, 10)
			reqs := make([]*http.Request, 1024)
			for i := range reqs {
				reqs[i] = sessionRequest("conversation-" + strconv.Itoa(i))
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.PickFor(reqs[i%len(reqs)], now) == nil {
					b.Fatal("no member")
				}
			}
		})
	}
}
