package cluster

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// Cluster is an immutable snapshot of one cluster. Writers publish new snapshots; readers never lock.
type Cluster struct {
	Name     string
	LbPolicy string
	// Members are in cluster order: static endpoints in file order, then registry endpoints in
	// the order they were added.
	Members []*Member
	pick    pickFunc
	// cumWeight[i] is the sum of the weights of Members[0..i], for WeightRandom.
	cumWeight []float64
	// cursor is shared by every snapshot of the same cluster so round robin survives updates.
	cursor *atomic.Uint64
	// models holds, per model an endpoint lists, the cluster narrowed to those endpoints.
	models modelIndex

	// consistent, key and hash serve the hashing policies; hash is nil for the others.
	consistent model.ConsistentHash
	key        requestKey
	hash       hashTable
}

type pickFunc func(c *Cluster, now time.Time) *Member

var balancers = map[string]pickFunc{
	model.LoadBalancerRoundRobin:   pickRoundRobin,
	model.LoadBalancerRand:         pickRand,
	model.LoadBalancerWeightRandom: pickWeightRandom,
	// Without a request to hash (Pick), the hashing policies go round robin.
	model.LoadBalancerRingHashing:   pickRoundRobin,
	model.LoadBalancerMaglevHashing: pickRoundRobin,
}

// Option adjusts a snapshot built by New.
type Option func(*Cluster)

// WithConsistentHash sets what the hashing policies hash and how large their tables are.
// ValidConsistentHash must have accepted ch.
func WithConsistentHash(ch model.ConsistentHash) Option {
	return func(c *Cluster) { c.consistent = ch }
}

// New builds a cluster snapshot from members in cluster order. lbPolicy is a name LbPolicy knows
// (any spelling; an unknown one means RoundRobin); cursor may be nil for a new cluster. The
// members slice is owned by the snapshot.
func New(name, lbPolicy string, members []*Member, cursor *atomic.Uint64, opts ...Option) *Cluster {
	c := build(name, lbPolicy, members, cursor, opts...)
	c.models = indexModels(c)
	return c
}

// build is New without the model index.
func build(name, lbPolicy string, members []*Member, cursor *atomic.Uint64, opts ...Option) *Cluster {
	canonical, ok := LbPolicy(lbPolicy)
	if !ok {
		canonical = model.LoadBalancerRoundRobin
	}
	if cursor == nil {
		cursor = new(atomic.Uint64)
	}
	for i, m := range members {
		if m.Index != i {
			// Published members are immutable: re-index a copy.
			cp := *m
			cp.Index = i
			members[i] = &cp
		}
	}
	cum := make([]float64, len(members))
	total := 0.0
	for i, m := range members {
		total += m.Weight()
		cum[i] = total
	}
	c := &Cluster{Name: name, LbPolicy: canonical, Members: members, pick: balancers[canonical], cursor: cursor, cumWeight: cum}
	for _, opt := range opts {
		opt(c)
	}
	if hashingPolicy(canonical) {
		c.key = newRequestKey(c.consistent.Header)
		c.hash = newHashTable(canonical, c.consistent, members)
	}
	return c
}

// WithMembers returns a snapshot of the same cluster (policy, round-robin cursor, hashing
// settings) with other members.
func (c *Cluster) WithMembers(members []*Member) *Cluster {
	return New(c.Name, c.LbPolicy, members, c.cursor, WithConsistentHash(c.consistent))
}

// ConsistentHash returns the cluster's hashing settings.
func (c *Cluster) ConsistentHash() model.ConsistentHash { return c.consistent }

// Cursor is the round-robin cursor to hand to the next snapshot of this cluster.
func (c *Cluster) Cursor() *atomic.Uint64 { return c.cursor }

// Pick chooses the first member for a request by the cluster's policy among members that are not
// cooling down. When every member is cooling down it picks among all of them rather than fail.
// It returns nil only for an empty cluster. The hashing policies need the request: see PickFor.
func (c *Cluster) Pick(now time.Time) *Member {
	return c.PickFor(nil, now)
}

// PickFor is Pick for request r: the hashing policies (RingHashing, MaglevHashing) pick the
// member owning the hash of r's key, skipping members that cool down; the other policies do not
// look at r. With a nil r the hashing policies go round robin. It takes no lock and, for the
// hashing policies, allocates nothing.
func (c *Cluster) PickFor(r *http.Request, now time.Time) *Member {
	if len(c.Members) == 0 {
		return nil
	}
	if c.hash != nil && r != nil {
		return c.hash.pick(c, c.key.hash(r), now)
	}
	return c.pick(c, now)
}

// Member returns the member with the given endpoint id, or nil.
func (c *Cluster) Member(id string) *Member {
	for _, m := range c.Members {
		if m.Endpoint.ID == id {
			return m
		}
	}
	return nil
}

// After returns the members to fall back to after m, in cluster order, wrapping around and
// excluding m. Members that are not cooling down come first.
func (c *Cluster) After(m *Member, now time.Time) []*Member {
	n := len(c.Members)
	out := make([]*Member, 0, n)
	var cooling []*Member
	for i := 1; i < n; i++ {
		next := c.Members[(m.Index+i)%n]
		if next.Health.CoolingDown(now) {
			cooling = append(cooling, next)
			continue
		}
		out = append(out, next)
	}
	return append(out, cooling...)
}

func pickRoundRobin(c *Cluster, now time.Time) *Member {
	m := c.Members[(c.cursor.Add(1)-1)%uint64(len(c.Members))]
	if !m.Health.CoolingDown(now) {
		return m
	}
	return randomAvailable(c, now, m)
}

func pickRand(c *Cluster, now time.Time) *Member {
	m := c.Members[rand.IntN(len(c.Members))]
	if !m.Health.CoolingDown(now) {
		return m
	}
	return randomAvailable(c, now, m)
}

// randomAvailable picks uniformly among members that are not cooling down, so that a cooling
// member's share spreads evenly instead of landing on its neighbour; or returns otherwise when
// every member cools down.
func randomAvailable(c *Cluster, now time.Time, otherwise *Member) *Member {
	available := 0
	for _, m := range c.Members {
		if !m.Health.CoolingDown(now) {
			available++
		}
	}
	if available == 0 {
		return otherwise
	}
	k := rand.IntN(available)
	for _, m := range c.Members {
		if !m.Health.CoolingDown(now) {
			if k == 0 {
				return m
			}
			k--
		}
	}
	return otherwise
}

func pickWeightRandom(c *Cluster, now time.Time) *Member {
	r := rand.Float64() * c.cumWeight[len(c.cumWeight)-1]
	i, _ := slices.BinarySearch(c.cumWeight, r)
	if i >= len(c.Members) {
		i = len(c.Members) - 1
	}
	if m := c.Members[i]; !m.Health.CoolingDown(now) {
		return m
	}
	return weightedAvailable(c, now)
}

// weightedAvailable picks by weight among members that are not cooling down, or among all of
// them when every member cools down.
func weightedAvailable(c *Cluster, now time.Time) *Member {
	total := 0.0
	for _, m := range c.Members {
		if !m.Health.CoolingDown(now) {
			total += m.Weight()
		}
	}
	if total == 0 {
		return c.Members[rand.IntN(len(c.Members))]
	}
	r := rand.Float64() * total
	var last *Member
	for _, m := range c.Members {
		if m.Health.CoolingDown(now) {
			continue
		}
		last = m
		if r -= m.Weight(); r < 0 {
			return m
		}
	}
	return last
}
