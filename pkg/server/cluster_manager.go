// Package server is the gateway host: the cluster manager, the adapter manager and the listeners.
package server

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// ClusterManager owns the gateway's clusters. Requests read an immutable snapshot with one atomic
// load; writers serialize on a mutex and publish a new snapshot (copy-on-write).
type ClusterManager struct {
	mu       sync.Mutex
	snapshot atomic.Pointer[map[string]*cluster.Cluster]
	// health is kept per cluster/id so cooldowns and key rotation survive endpoint updates.
	health  map[string]*cluster.Health
	metrics *metrics.Metrics
	gc      clusterGC // see cluster_gc.go
}

// NewClusterManager builds the manager from the static clusters of pixiu.yaml, which are expected
// to be validated already (see config.Validate); it still refuses what it cannot build.
func NewClusterManager(configs []*model.ClusterConfig, m *metrics.Metrics, opts ...ClusterManagerOption) (*ClusterManager, error) {
	cm := &ClusterManager{health: map[string]*cluster.Health{}, metrics: m, gc: clusterGC{
		grace: DefaultEmptyClusterGrace, declared: map[string]bool{}, pending: map[string]*time.Timer{}}}
	for _, opt := range opts {
		opt(cm)
	}
	clusters := make(map[string]*cluster.Cluster, len(configs))
	for i, cc := range configs {
		if _, dup := clusters[cc.Name]; dup {
			return nil, fmt.Errorf("clusters[%d]: duplicate cluster name %q", i, cc.Name)
		}
		lb, err := cluster.ValidLbPolicy(cc.LbStr)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cc.Name, err)
		}
		members := make([]*cluster.Member, 0, len(cc.Endpoints))
		seen := map[string]bool{}
		for j, ep := range cc.Endpoints {
			if seen[ep.ID] {
				return nil, fmt.Errorf("cluster %q endpoints[%d]: duplicate endpoint id %q", cc.Name, j, ep.ID)
			}
			seen[ep.ID] = true
			mem, err := cm.newMember(cc.Name, ep, cluster.SourceStatic)
			if err != nil {
				return nil, fmt.Errorf("cluster %q endpoint %q: %w", cc.Name, ep.ID, err)
			}
			members = append(members, mem)
		}
		if err := cluster.ValidConsistentHash(cc.ConsistentHash); err != nil {
			return nil, fmt.Errorf("cluster %q: consistent.%w", cc.Name, err)
		}
		clusters[cc.Name] = cluster.New(cc.Name, lb, members, nil, cluster.WithConsistentHash(cc.ConsistentHash))
		cm.gc.declared[cc.Name] = true
		cm.countEndpoints(clusters[cc.Name])
	}
	cm.snapshot.Store(&clusters)
	return cm, nil
}

// Cluster returns the current snapshot of a cluster, or nil. It takes no lock.
func (cm *ClusterManager) Cluster(name string) *cluster.Cluster {
	return (*cm.snapshot.Load())[name]
}

// Clusters returns every cluster snapshot, sorted by name.
func (cm *ClusterManager) Clusters() []*cluster.Cluster {
	snap := *cm.snapshot.Load()
	out := make([]*cluster.Cluster, 0, len(snap))
	for _, c := range snap {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetEndpoint adds or replaces an endpoint as a static one. Adapters use ForSource.
func (cm *ClusterManager) SetEndpoint(clusterName string, ep *model.Endpoint) (err error) {
	cm.update(cluster.SourceStatic, func(b *batch) { _, err = b.Set(clusterName, ep, model.Origin{}) })
	return err
}

// DeleteEndpoint removes an endpoint whatever its source.
func (cm *ClusterManager) DeleteEndpoint(clusterName, id string) error {
	cm.update("", func(b *batch) { b.remove(clusterName, id, "", true) })
	return nil
}

// ForSource returns the view of the manager an adapter gets: endpoints it sets are tagged with
// source, and it can neither replace nor delete endpoints of another source.
func (cm *ClusterManager) ForSource(source string) adapter.EndpointManager {
	return sourcedManager{cm: cm, source: source}
}

type sourcedManager struct {
	cm     *ClusterManager
	source string
}

func (s sourcedManager) SetEndpoint(clusterName string, ep *model.Endpoint) (err error) {
	s.cm.update(s.source, func(b *batch) { _, err = b.Set(clusterName, ep, model.Origin{}) })
	return err
}

func (s sourcedManager) DeleteEndpoint(clusterName, id string) (err error) {
	s.cm.update(s.source, func(b *batch) {
		if c := b.cluster(clusterName, false); c != nil {
			if i, ok := c.index[id]; ok && c.members[i].Source != s.source {
				err = fmt.Errorf("cluster %q: endpoint id %q belongs to source %q; not deleted by %q",
					clusterName, id, c.members[i].Source, s.source)
				return
			}
		}
		b.remove(clusterName, id, "", false)
	})
	return err
}

func (s sourcedManager) Update(fn func(adapter.Batch)) {
	s.cm.update(s.source, func(b *batch) { fn(b) })
}

func (s sourcedManager) Endpoints() []adapter.OwnedEndpoint {
	var out []adapter.OwnedEndpoint
	for _, c := range s.cm.Clusters() {
		for _, m := range c.Members {
			if m.Source == s.source {
				out = append(out, adapter.OwnedEndpoint{Cluster: c.Name, Endpoint: m.Endpoint.Clone(), Origin: m.Origin})
			}
		}
	}
	return out
}

// update runs fn on a batch of changes for source and publishes the result: one new snapshot
// map, with one new cluster snapshot per changed cluster.
func (cm *ClusterManager) update(source string, fn func(b *batch)) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	b := &batch{cm: cm, source: source, old: *cm.snapshot.Load(), staged: map[string]*stagedCluster{}}
	fn(b)
	b.commit()
}

// batch stages changes to the clusters. Each cluster it touches is copied once (members and an
// id index), whatever the number of changes to it.
type batch struct {
	cm     *ClusterManager
	source string
	old    map[string]*cluster.Cluster
	staged map[string]*stagedCluster
	order  []string // staged cluster names, in first-touch order
}

type stagedCluster struct {
	prev    *cluster.Cluster
	members []*cluster.Member // nil entries are removed members
	index   map[string]int
	changed bool
}

var _ adapter.Batch = (*batch)(nil)

// cluster returns the staged copy of a cluster, creating it when create is set.
func (b *batch) cluster(name string, create bool) *stagedCluster {
	if c := b.staged[name]; c != nil {
		return c
	}
	prev := b.old[name]
	if prev == nil && !create {
		return nil
	}
	c := &stagedCluster{prev: prev, index: map[string]int{}}
	if prev != nil {
		c.members = make([]*cluster.Member, len(prev.Members), len(prev.Members)+1)
		copy(c.members, prev.Members)
		for i, m := range prev.Members {
			c.index[m.Endpoint.ID] = i
		}
	}
	b.staged[name] = c
	b.order = append(b.order, name)
	return c
}

// Set implements adapter.Batch.
func (b *batch) Set(clusterName string, ep *model.Endpoint, origin model.Origin) (*model.Endpoint, error) {
	if clusterName == "" {
		return nil, fmt.Errorf("set endpoint: empty cluster name")
	}
	if ep == nil || ep.ID == "" {
		return nil, fmt.Errorf("cluster %q: set endpoint: endpoint without id", clusterName)
	}
	c := b.cluster(clusterName, false)
	var existing *cluster.Member
	if c != nil {
		if i, ok := c.index[ep.ID]; ok {
			existing = c.members[i]
		}
	}
	if existing != nil {
		if existing.Source != b.source {
			return nil, fmt.Errorf("cluster %q: endpoint id %q already belongs to source %q; not replaced by %q",
				clusterName, ep.ID, existing.Source, b.source)
		}
		if existing.Origin.Provider != origin.Provider {
			return nil, fmt.Errorf("cluster %q: endpoint id %q already belongs to %q; not replaced by %q",
				clusterName, ep.ID, existing.Origin.Provider, origin.Provider)
		}
	}
	mem, err := b.cm.newMember(clusterName, ep, b.source)
	if err != nil {
		return nil, fmt.Errorf("cluster %q endpoint %q: %w", clusterName, ep.ID, err)
	}
	mem.Origin = origin
	if c == nil {
		c = b.cluster(clusterName, true)
	}
	c.changed = true
	if existing != nil {
		c.members[c.index[ep.ID]] = mem
		return existing.Endpoint, nil
	}
	c.index[ep.ID] = len(c.members)
	c.members = append(c.members, mem)
	return nil, nil
}

// Remove implements adapter.Batch.
func (b *batch) Remove(clusterName, id, provider string) *model.Endpoint {
	return b.remove(clusterName, id, provider, false)
}

// remove drops an endpoint of this batch's source and provider; any source when anySource.
func (b *batch) remove(clusterName, id, provider string, anySource bool) *model.Endpoint {
	c := b.cluster(clusterName, false)
	if c == nil {
		return nil
	}
	i, ok := c.index[id]
	if !ok {
		return nil
	}
	m := c.members[i]
	if !anySource && (m.Source != b.source || m.Origin.Provider != provider) {
		return nil
	}
	c.members[i] = nil
	delete(c.index, id)
	c.changed = true
	delete(b.cm.health, healthKey(clusterName, id))
	return m.Endpoint
}

// commit publishes the changed clusters in one new snapshot map.
func (b *batch) commit() {
	var changed []*cluster.Cluster
	for _, name := range b.order {
		c := b.staged[name]
		if !c.changed {
			continue
		}
		members := c.members[:0]
		for _, m := range c.members {
			if m != nil {
				members = append(members, m)
			}
		}
		if c.prev == nil {
			// A cluster only an adapter provides gets the default policy.
			changed = append(changed, cluster.New(name, model.LoadBalancerRoundRobin, members, nil))
			continue
		}
		changed = append(changed, c.prev.WithMembers(members))
	}
	if len(changed) == 0 {
		return
	}
	next := make(map[string]*cluster.Cluster, len(b.old)+len(changed))
	for k, v := range b.old {
		next[k] = v
	}
	for _, c := range changed {
		next[c.Name] = c
	}
	b.cm.snapshot.Store(&next)
	for _, c := range changed {
		b.cm.countEndpoints(c)
		b.cm.afterPublish(b.old[c.Name], c)
	}
}

func (cm *ClusterManager) countEndpoints(c *cluster.Cluster) {
	if cm.metrics == nil {
		return
	}
	bySource := map[string]int{cluster.SourceStatic: 0}
	for _, m := range c.Members {
		bySource[m.Source]++
	}
	// SetClusterEndpoints also zeroes a source whose last endpoint just left.
	cm.metrics.SetClusterEndpoints(c.Name, bySource)
}

// newMember compiles an endpoint into a member. Callers hold cm.mu or own cm exclusively.
func (cm *ClusterManager) newMember(clusterName string, ep *model.Endpoint, source string) (*cluster.Member, error) {
	key := healthKey(clusterName, ep.ID)
	h := cm.health[key]
	if h == nil {
		h = new(cluster.Health)
	}
	m, err := cluster.NewMember(ep.Clone(), source, h)
	if err != nil {
		return nil, err
	}
	cm.health[key] = h
	return m, nil
}

func healthKey(clusterName, id string) string {
	return clusterName + "\x00" + id
}
