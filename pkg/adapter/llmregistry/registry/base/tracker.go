// Package base holds what every protocol shares: the Watch (read passes, forgetting and
// confirmation rules, one batch per pass) and the Tracker, which remembers the last instance
// list of each service, converts instances into endpoints, and turns each new list into endpoint
// changes per (cluster, id). A protocol package only provides a Source that reads its registry.
package base

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Tracker turns instance lists into endpoint events and rejections for one registry.
//
// Rules it keeps:
//   - each (cluster, id) is one endpoint: new → add, any change → update (the whole endpoint),
//     gone → delete; an endpoint whose cluster changes is deleted from the old cluster and
//     added to the new one;
//   - instances that are disabled, unhealthy or weigh 0 carry no traffic;
//   - an instance whose metadata turns invalid keeps its last valid endpoint (last-known-good)
//     until it is fixed or leaves, and is reported as rejected meanwhile;
//   - two instances claiming the same (cluster, id): the one from the smallest (service,
//     instance) wins whatever the order of arrival; the other is reported;
//   - a change the listener refuses is reported and tried again on the next Sync of the service.
//
// The tracker keeps the registry's view (instance lists, and the claims they make on each
// (cluster, id)); who owns what the gateway routes is recorded only by the cluster manager. A
// change is computed from the claims before and after a list, so an unchanged list costs a
// comparison and nothing else.
//
// All methods are safe for concurrent use; listener calls happen under the tracker's lock, in
// the order the changes were computed, so the listener must not call back into the tracker.
type Tracker struct {
	listener registry.Listener

	mu       sync.Mutex
	closed   bool
	services map[string]map[string]*instanceState // service → instance key → state
	// lists are the instance lists last synced, sorted, to skip unchanged ones cheaply.
	lists  map[string][]registry.Instance
	claims map[endpointKey]map[instanceRef]*claim
	// dupes holds, per contested endpoint, every claimant: the winner first.
	dupes    map[endpointKey][]instanceRef
	refused  map[endpointKey]refusal
	reported []*registry.MetadataError
	// rejectionsChanged is set when the set of rejections changed since the last report.
	rejectionsChanged bool
}

type endpointKey struct{ cluster, id string }

type instanceRef struct{ service, instance string }

func (r instanceRef) less(o instanceRef) bool {
	if r.service != o.service {
		return r.service < o.service
	}
	return r.instance < o.instance
}

type claim struct {
	cluster  string
	endpoint *model.Endpoint
}

type instanceState struct {
	// lastGood is the instance's last valid endpoint; it survives invalid metadata.
	lastGood *claim
	// serving says whether lastGood should carry traffic now.
	serving   bool
	rejection *registry.MetadataError
}

type refusal struct {
	owner  instanceRef
	reason string
}

// New returns a tracker delivering to l.
func New(l registry.Listener) *Tracker {
	return &Tracker{
		listener: l,
		services: map[string]map[string]*instanceState{},
		lists:    map[string][]registry.Instance{},
		claims:   map[endpointKey]map[instanceRef]*claim{},
		dupes:    map[endpointKey][]instanceRef{},
		refused:  map[endpointKey]refusal{},
	}
}

// Sync replaces what is known of service with its complete current instance list and delivers
// the resulting changes. An empty list means the service has no instances left.
func (t *Tracker) Sync(service string, instances []registry.Instance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	old, known := t.services[service]
	sorted := append([]registry.Instance(nil), instances...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if ki, kj := sorted[i].Key(), sorted[j].Key(); ki != kj {
			return ki < kj
		}
		return sorted[i].InstanceID < sorted[j].InstanceID
	})
	if known && sameInstances(t.lists[service], sorted) && !t.refusedIn(service) {
		return // nothing changed, nothing to retry
	}
	t.lists[service] = sorted
	next := make(map[string]*instanceState, len(instances))
	for _, in := range sorted {
		in.Service = service
		key := uniqueKey(next, in)
		st := &instanceState{serving: in.Serving()}
		clusterName, ep, err := registry.InstanceToEndpoint(in)
		if err != nil {
			var me *registry.MetadataError
			if !errors.As(err, &me) {
				me = &registry.MetadataError{Service: service, Key: "metadata", Reason: err.Error()}
			}
			me.Instance = key
			st.rejection = me
			if prev := old[key]; prev != nil {
				st.lastGood = prev.lastGood
			}
		} else {
			st.lastGood = &claim{cluster: clusterName, endpoint: ep}
		}
		next[key] = st
	}
	t.services[service] = next
	t.apply(service, old, next)
}

// Forget drops a service that left the registry: its endpoints are deleted.
func (t *Tracker) Forget(service string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	old, ok := t.services[service]
	if !ok {
		return
	}
	delete(t.services, service)
	delete(t.lists, service)
	t.apply(service, old, nil)
}

// Instances returns how many instances the last list of service had, and whether the service
// is known at all.
func (t *Tracker) Instances(service string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in, ok := t.services[service]
	return len(in), ok
}

func (t *Tracker) refusedIn(service string) bool {
	for _, r := range t.refused {
		if r.owner.service == service {
			return true
		}
	}
	return false
}

// sameInstances compares two sorted instance lists field by field.
func sameInstances(a, b []registry.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.InstanceID != y.InstanceID || x.IP != y.IP || x.Port != y.Port || x.Weight != y.Weight ||
			x.Healthy != y.Healthy || x.Enabled != y.Enabled || x.Ephemeral != y.Ephemeral ||
			x.Group != y.Group || x.Service != y.Service || !maps.Equal(x.Metadata, y.Metadata) {
			return false
		}
	}
	return true
}

// Services lists the services the tracker knows, sorted.
func (t *Tracker) Services() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.services))
	for s := range t.services {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Close stops all further deliveries; later calls are ignored.
func (t *Tracker) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
}

// uniqueKey returns the instance's key, disambiguated when the registry lists two instances
// with the same ip:port in one service (e.g. in two Nacos clusters).
func uniqueKey(seen map[string]*instanceState, in registry.Instance) string {
	key := in.Key()
	if _, dup := seen[key]; !dup {
		return key
	}
	if in.InstanceID != "" {
		if k := key + "#" + in.InstanceID; seen[k] == nil {
			return k
		}
	}
	for i := 2; ; i++ {
		if k := key + "#" + strconv.Itoa(i); seen[k] == nil {
			return k
		}
	}
}

// apply moves the service's claims from old to next and resolves every endpoint they touch.
func (t *Tracker) apply(service string, old, next map[string]*instanceState) {
	if !sameRejections(old, next) {
		t.rejectionsChanged = true
	}
	affected := map[endpointKey]*candidate{} // key → winner before the change
	touch := func(k endpointKey) {
		if _, ok := affected[k]; !ok {
			affected[k] = t.winner(k)
		}
	}
	t.moveClaims(service, old, next, touch)
	// Refused endpoints are retried whenever their service is read again.
	for k, r := range t.refused {
		if r.owner.service == service {
			touch(k)
		}
	}
	t.resolveAll(affected)
	t.reportRejections()
}

// moveClaims drops the claims of the service's old instances and records those of next,
// touching every endpoint claimed before or after.
func (t *Tracker) moveClaims(service string, old, next map[string]*instanceState, touch func(endpointKey)) {
	for instance, st := range old {
		if c := st.active(); c != nil {
			k := endpointKey{c.cluster, c.endpoint.ID}
			touch(k)
			if m := t.claims[k]; m != nil {
				delete(m, instanceRef{service, instance})
				if len(m) == 0 {
					delete(t.claims, k)
				}
			}
		}
	}
	for instance, st := range next {
		if c := st.active(); c != nil {
			k := endpointKey{c.cluster, c.endpoint.ID}
			touch(k)
			if t.claims[k] == nil {
				t.claims[k] = map[instanceRef]*claim{}
			}
			t.claims[k][instanceRef{service, instance}] = c
		}
	}
}

// resolveAll resolves the affected endpoints (key → winner before the change) in key order,
// deletions first, so that an endpoint moving between clusters leaves before it arrives.
func (t *Tracker) resolveAll(affected map[endpointKey]*candidate) {
	keys := make([]endpointKey, 0, len(affected))
	for k := range affected {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].cluster != keys[j].cluster {
			return keys[i].cluster < keys[j].cluster
		}
		return keys[i].id < keys[j].id
	})
	var later []endpointKey
	for _, k := range keys {
		if len(t.claims[k]) == 0 {
			t.resolve(k, affected[k])
		} else {
			later = append(later, k)
		}
	}
	for _, k := range later {
		t.resolve(k, affected[k])
	}
}

func sameRejections(old, next map[string]*instanceState) bool {
	count := 0
	for key, st := range next {
		if st.rejection == nil {
			continue
		}
		count++
		prev := old[key]
		if prev == nil || prev.rejection == nil || *prev.rejection != *st.rejection {
			return false
		}
	}
	for _, st := range old {
		if st.rejection != nil {
			count--
		}
	}
	return count == 0
}

func (st *instanceState) active() *claim {
	if st == nil || !st.serving {
		return nil
	}
	return st.lastGood
}

// candidate is the instance whose claim wins a (cluster, id).
type candidate struct {
	owner instanceRef
	claim *claim
}

// winner is the claim on k that the gateway should route: the one from the smallest (service,
// instance), whatever the order of arrival.
func (t *Tracker) winner(k endpointKey) *candidate {
	var best *candidate
	for r, c := range t.claims[k] {
		if best == nil || r.less(best.owner) {
			best = &candidate{owner: r, claim: c}
		}
	}
	return best
}

// resolve delivers what changed for one (cluster, id), given the winner before the change.
func (t *Tracker) resolve(k endpointKey, before *candidate) {
	prevDupes, prevRefusal := t.dupes[k], t.refused[k]
	defer func() {
		if !reflect.DeepEqual(prevDupes, t.dupes[k]) || prevRefusal != t.refused[k] {
			t.rejectionsChanged = true
		}
	}()
	_, wasRefused := t.refused[k]
	delete(t.dupes, k)
	delete(t.refused, k)
	after := t.winner(k)
	if after == nil {
		if before != nil {
			// Removing an endpoint the gateway refused is a no-op in the cluster manager.
			t.listener.OnRemoveEndpoint(registry.Event{Cluster: k.cluster, Endpoint: before.claim.endpoint,
				Service: before.owner.service, Instance: before.owner.instance})
		}
		return
	}
	if cands := t.claims[k]; len(cands) > 1 {
		refs := make([]instanceRef, 0, len(cands))
		for r := range cands {
			refs = append(refs, r)
		}
		sort.Slice(refs, func(i, j int) bool { return refs[i].less(refs[j]) })
		t.dupes[k] = refs
	}
	if !wasRefused && before != nil && before.owner == after.owner && reflect.DeepEqual(before.claim.endpoint, after.claim.endpoint) {
		return
	}
	err := t.listener.OnAddEndpoint(registry.Event{Cluster: k.cluster, Endpoint: after.claim.endpoint.Clone(),
		Service: after.owner.service, Instance: after.owner.instance})
	if err != nil {
		// The gateway keeps what it had (nothing, or the previous version).
		t.refused[k] = refusal{owner: after.owner, reason: err.Error()}
	}
}

// reportRejections sends the complete rejection set when it changed.
func (t *Tracker) reportRejections() {
	if !t.rejectionsChanged {
		return
	}
	t.rejectionsChanged = false
	var out []*registry.MetadataError
	for service, instances := range t.services {
		for _, st := range instances {
			if st.rejection != nil {
				r := *st.rejection
				r.Service = service
				out = append(out, &r)
			}
		}
	}
	for k, claimants := range t.dupes {
		owner := claimants[0]
		for _, l := range claimants[1:] {
			out = append(out, &registry.MetadataError{Service: l.service, Instance: l.instance, Key: registry.KeyID,
				Reason: fmt.Sprintf("duplicate endpoint (cluster %q, id %q): service %q instance %s provides it",
					k.cluster, k.id, owner.service, owner.instance)})
		}
	}
	for k, r := range t.refused {
		out = append(out, &registry.MetadataError{Service: r.owner.service, Instance: r.owner.instance, Key: registry.KeyID,
			Reason: fmt.Sprintf("endpoint (cluster %q, id %q) refused by the gateway: %s", k.cluster, k.id, r.reason)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Reason < b.Reason
	})
	if reflect.DeepEqual(out, t.reported) {
		return
	}
	t.reported = out
	cp := make([]*registry.MetadataError, len(out))
	for i, r := range out {
		c := *r
		cp[i] = &c
	}
	t.listener.OnRejections(cp)
}
