package cluster

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// modelIndex maps each model that members of a cluster list (llm_meta.models) to a view of the
// cluster holding only those members, in cluster order, with the cluster's lb_policy. Views are
// built with the snapshot, so a request finds its endpoints with one map lookup. Each view has
// its own round-robin cursor, started at a random position: a view is rebuilt with every
// snapshot, and a cursor starting at 0 each time would favour the first member.
type modelIndex map[string]*Cluster

func indexModels(c *Cluster) modelIndex {
	var byModel map[string][]*Member
	for _, m := range c.Members {
		for _, name := range m.Models() {
			if byModel == nil {
				byModel = map[string][]*Member{}
			}
			byModel[name] = append(byModel[name], m)
		}
	}
	if byModel == nil {
		return nil
	}
	idx := make(modelIndex, len(byModel))
	for name, members := range byModel {
		cursor := new(atomic.Uint64)
		cursor.Store(rand.Uint64N(uint64(len(members))))
		idx[name] = build(c.Name, c.LbPolicy, members, cursor, WithConsistentHash(c.consistent))
	}
	return idx
}

// Models are the models the member's endpoint lists; nil when it lists none.
func (m *Member) Models() []string {
	if m.Endpoint.LLMMeta == nil {
		return nil
	}
	return m.Endpoint.LLMMeta.Models
}

// ForModel returns the cluster narrowed to the members that list model, or nil when none does.
// The view has the cluster's name and lb_policy; its members are in cluster order, so fallback
// inside it works as in the whole cluster. Members that list no models are not in any view.
func (c *Cluster) ForModel(model string) *Cluster {
	return c.models[model]
}

// ListsModels reports whether any member of the cluster lists models.
func (c *Cluster) ListsModels() bool { return len(c.models) > 0 }

// ServedModels returns, sorted, the models listed by members that are not cooling down at now.
func (c *Cluster) ServedModels(now time.Time) []string {
	out := make([]string, 0, len(c.models))
	for name, view := range c.models {
		if view.Available(now) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Available reports whether a member of the cluster is not cooling down at now.
func (c *Cluster) Available(now time.Time) bool {
	for _, m := range c.Members {
		if !m.Health.CoolingDown(now) {
			return true
		}
	}
	return false
}
