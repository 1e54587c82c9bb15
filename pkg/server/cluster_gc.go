package server

import (
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
)

// DefaultEmptyClusterGrace is how long a cluster that pixiu.yaml does not declare (one a
// registry created) may stay without endpoints before the manager removes it. A registry that
// briefly lists no instance of a service (a restart, a deploy) does not make the cluster vanish
// and come back.
const DefaultEmptyClusterGrace = 60 * time.Second

// ClusterManagerOption adjusts a ClusterManager.
type ClusterManagerOption func(*ClusterManager)

// WithEmptyClusterGrace sets how long an undeclared cluster may stay empty; see
// DefaultEmptyClusterGrace.
func WithEmptyClusterGrace(d time.Duration) ClusterManagerOption {
	return func(cm *ClusterManager) { cm.gc.grace = d }
}

// clusterGC removes what endpoints leave behind: the metric series of a removed endpoint, and
// clusters not declared in pixiu.yaml that stayed empty for the grace period. Its state is
// guarded by the manager's mutex.
type clusterGC struct {
	grace time.Duration
	// declared are the clusters of pixiu.yaml: they stay, empty or not.
	declared map[string]bool
	// pending holds the removal timer of each empty undeclared cluster.
	pending map[string]*time.Timer
	closed  bool
}

// afterPublish is called, with cm.mu held, when next replaced prev (nil for a new cluster).
func (cm *ClusterManager) afterPublish(prev, next *cluster.Cluster) {
	if prev != nil && len(prev.Members) > 0 {
		kept := make(map[string]bool, len(next.Members))
		for _, m := range next.Members {
			kept[m.ID()] = true
		}
		for _, m := range prev.Members {
			if !kept[m.ID()] {
				cm.metrics.ForgetEndpoint(next.Name, m.ID())
			}
		}
	}
	cm.watchEmpty(next)
}

// watchEmpty starts the removal timer of an undeclared cluster that became empty, and stops it
// when the cluster got an endpoint again. Callers hold cm.mu.
func (cm *ClusterManager) watchEmpty(c *cluster.Cluster) {
	t, waiting := cm.gc.pending[c.Name]
	switch {
	case len(c.Members) > 0:
		if waiting {
			t.Stop()
			delete(cm.gc.pending, c.Name)
		}
	case !waiting && !cm.gc.declared[c.Name] && !cm.gc.closed:
		name := c.Name
		cm.gc.pending[name] = time.AfterFunc(cm.gc.grace, func() { cm.removeIfEmpty(name) })
	}
}

// removeIfEmpty removes an undeclared cluster whose grace period ran out, if it is still empty.
func (cm *ClusterManager) removeIfEmpty(name string) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	delete(cm.gc.pending, name)
	old := *cm.snapshot.Load()
	if c := old[name]; c == nil || len(c.Members) > 0 || cm.gc.closed {
		return
	}
	next := make(map[string]*cluster.Cluster, len(old))
	for k, v := range old {
		if k != name {
			next[k] = v
		}
	}
	cm.snapshot.Store(&next)
	cm.metrics.ForgetCluster(name)
}

// Close stops the removal timers; the manager keeps serving its snapshot.
func (cm *ClusterManager) Close() {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	cm.gc.closed = true
	for name, t := range cm.gc.pending {
		t.Stop()
		delete(cm.gc.pending, name)
	}
}
