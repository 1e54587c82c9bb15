package discovery

import (
	"bytes"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/registryproxy"
)

// Watch matches the list responses the gateway receives (through the registry proxy) against
// expected changes, to timestamp when each change first reached the gateway.
type Watch struct {
	mu      sync.Mutex
	pending map[*Expectation]struct{}
}

// Expectation is one awaited response.
type Expectation struct {
	path    string
	service string // instance lists: group@@name; "" for service lists
	after   time.Time
	match   func(body []byte) bool

	done chan struct{}
	at   time.Time   // the first hit, written once before done is closed
	hits []time.Time // every matching response until Cancel, up to maxHits; guarded by Watch.mu
}

// maxHits bounds the responses remembered per expectation.
const maxHits = 64

// NewWatch returns an empty watch; pass its Observe to registryproxy.Start.
func NewWatch() *Watch { return &Watch{pending: map[*Expectation]struct{}{}} }

// Observe is the registry proxy's observer. Expectations keep matching after the first hit,
// until cancelled, to tell which response the gateway applied.
func (w *Watch) Observe(r registryproxy.Response) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for e := range w.pending {
		if r.Path != e.path || (e.service != "" && r.Service != e.service) || !r.At.After(e.after) {
			continue
		}
		if !e.match(r.Body) {
			continue
		}
		if len(e.hits) == 0 {
			e.at = r.At
			close(e.done)
		}
		if len(e.hits) < maxHits {
			e.hits = append(e.hits, r.At)
		}
	}
}

// InstanceList expects an instance list of group@@service, sent after after, whose body
// contains (or, with present false, lacks) marker.
func (w *Watch) InstanceList(group, service, marker string, present bool, after time.Time) *Expectation {
	m := []byte(marker)
	return w.add(&Expectation{
		path: registryproxy.PathInstanceList, service: group + "@@" + service, after: after,
		match: func(body []byte) bool { return bytes.Contains(body, m) == present },
	})
}

// ServiceList expects a service list, sent after after, that names service.
func (w *Watch) ServiceList(service string, after time.Time) *Expectation {
	m := []byte(`"` + service + `"`)
	return w.add(&Expectation{
		path: registryproxy.PathServiceList, after: after,
		match: func(body []byte) bool { return bytes.Contains(body, m) },
	})
}

func (w *Watch) add(e *Expectation) *Expectation {
	e.done = make(chan struct{})
	w.mu.Lock()
	w.pending[e] = struct{}{}
	w.mu.Unlock()
	return e
}

// LastHitBefore is the latest matching response that reached the gateway at or before t (the
// one the gateway most likely applied), zero if none.
func (w *Watch) LastHitBefore(e *Expectation, t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, h := range e.hits {
		if !h.After(t) && h.After(last) {
			last = h
		}
	}
	return last
}

// Cancel stops watching for e; what it saw so far stays readable.
func (w *Watch) Cancel(e *Expectation) {
	w.mu.Lock()
	delete(w.pending, e)
	w.mu.Unlock()
}

// Done is closed when the expected response went by.
func (e *Expectation) Done() <-chan struct{} { return e.done }

// At is when the expected response reached the gateway; zero while it has not.
func (e *Expectation) At() time.Time {
	select {
	case <-e.done:
		return e.at
	default:
		return time.Time{}
	}
}
