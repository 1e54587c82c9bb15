// Package server is the gateway host: the cluster manager, the adapter manager and the listeners.
package server

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
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
func (cm *ClusterManager) SetEndpoint(clusterName string, ep *model.Endpoint) error {
	return cm.setEndpoint(clusterName, ep, cluster.SourceStatic)
}

// DeleteEndpoint removes an endpoint whatever its source.
func (cm *ClusterManager) DeleteEndpoint(clusterName, id string) error {
	return cm.deleteEndpoint(clusterName, id, "")
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

func (s sourcedManager) SetEndpoint(clusterName string, ep *model.Endpoint) error {
	return s.cm.setEndpoint(clusterName, ep, s.source)
}

func (s sourcedManager) DeleteEndpoint(clusterName, id string) error {
	return s.cm.deleteEndpoint(clusterName, id, s.source)
}

func (cm *ClusterManager) setEndpoint(clusterName string, ep *model.Endpoint, source string) error {
	if clusterName == "" {
		return fmt.Errorf("set endpoint: empty cluster name")
	}
	if ep == nil || ep.ID == "" {
		return fmt.Errorf("cluster %q: set endpoint: endpoint without id", clusterName)
	}
	cm.mu.Lock()
	defer cm.mu.Unlock()

	old := *cm.snapshot.Load()
	prev := old[clusterName]
	var members []*cluster.Member
	if prev != nil {
		if existing := prev.Member(ep.ID); existing != nil && existing.Source != source {
			return fmt.Errorf("cluster %q: endpoint id %q already belongs to source %q; not replaced by %q",
				clusterName, ep.ID, existing.Source, source)
		}
		members = make([]*cluster.Member, 0, len(prev.Members)+1)
		members = append(members, prev.Members...)
	}
	mem, err := cm.newMember(clusterName, ep, source)
	if err != nil {
		return fmt.Errorf("cluster %q endpoint %q: %w", clusterName, ep.ID, err)
	}
	replaced := false
	for i, m := range members {
		if m.Endpoint.ID == ep.ID {
			members[i] = mem
			replaced = true
			break
		}
	}
	if !replaced {
		members = append(members, mem)
	}
	if prev == nil {
		// A cluster only an adapter provides gets the default policy.
		prev = cluster.New(clusterName, model.LoadBalancerRoundRobin, nil, nil)
	}
	cm.publish(old, prev.WithMembers(members))
	return nil
}

func (cm *ClusterManager) deleteEndpoint(clusterName, id, source string) error {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	old := *cm.snapshot.Load()
	prev := old[clusterName]
	if prev == nil {
		return nil
	}
	existing := prev.Member(id)
	if existing == nil {
		return nil
	}
	if source != "" && existing.Source != source {
		return fmt.Errorf("cluster %q: endpoint id %q belongs to source %q; not deleted by %q",
			clusterName, id, existing.Source, source)
	}
	members := make([]*cluster.Member, 0, len(prev.Members)-1)
	for _, m := range prev.Members {
		if m.Endpoint.ID != id {
			members = append(members, m)
		}
	}
	delete(cm.health, healthKey(clusterName, id))
	cm.publish(old, prev.WithMembers(members))
	return nil
}

// publish swaps in a snapshot in which c replaces its namesake. Callers hold cm.mu.
func (cm *ClusterManager) publish(old map[string]*cluster.Cluster, c *cluster.Cluster) {
	next := make(map[string]*cluster.Cluster, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[c.Name] = c
	cm.snapshot.Store(&next)
	cm.countEndpoints(c)
	cm.afterPublish(old[c.Name], c)
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
	ep = ep.Clone()
	if len(ep.Address.Domains) == 0 && ep.Address.Address == "" {
		return nil, fmt.Errorf("no address: set socket_address.domains or socket_address.address")
	}
	if _, err := ep.Address.Target("https"); err != nil {
		return nil, err
	}
	if ep.Address.Port < 0 || ep.Address.Port > 65535 {
		return nil, fmt.Errorf("socket_address.port %d out of range 0..65535", ep.Address.Port)
	}
	var name string
	var config map[string]any
	if ep.LLMMeta != nil {
		name, config = ep.LLMMeta.RetryPolicy.Name, ep.LLMMeta.RetryPolicy.Config
		if ep.LLMMeta.HealthCheckInterval < 0 {
			return nil, fmt.Errorf("llm_meta.health_check_interval %d is negative", ep.LLMMeta.HealthCheckInterval)
		}
	}
	policy, err := retry.New(name, config)
	if err != nil {
		return nil, fmt.Errorf("llm_meta.retry_policy: %w", err)
	}
	key := healthKey(clusterName, ep.ID)
	h := cm.health[key]
	if h == nil {
		h = new(cluster.Health)
		cm.health[key] = h
	}
	return &cluster.Member{
		Endpoint: ep,
		Source:   source,
		Retry:    policy,
		Keys:     ep.LLMMeta.Keys(),
		Health:   h,
	}, nil
}

func healthKey(clusterName, id string) string {
	return clusterName + "\x00" + id
}
