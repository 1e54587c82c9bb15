package grpcnaming

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

const (
	testTimeout = 3 * time.Second
	// changeBound bounds every wait for a push. Pushes take about a second (the logged
	// latencies); the bound leaves room for a loaded machine.
	changeBound = 20 * time.Second
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real Nacos server (r-nacos)")
	}
}

// connect makes a client of the server at addr, closed at the end of the test.
func connect(t *testing.T, addr string, cfg Config) *Client {
	t.Helper()
	cfg.Addresses = []string{addr}
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// uniqueName keeps tests independent when they share a server.
func uniqueName(what string) string {
	return fmt.Sprintf("pixiu-%s-%d", what, time.Now().UnixNano())
}

func instance(service, group string, port int, meta map[string]string) registry.Instance {
	return registry.Instance{
		Service: service, Group: group, IP: "127.0.0.1", Port: port, Weight: 1,
		Enabled: true, Healthy: true, Metadata: meta,
	}
}

// watcher records the lists a subscription delivers.
type watcher struct {
	mu        sync.Mutex
	latest    []registry.Instance
	delivered int
	changed   chan struct{}
}

func newWatcher() *watcher { return &watcher{changed: make(chan struct{}, 1)} }

func (w *watcher) onChange(list []registry.Instance) {
	w.mu.Lock()
	w.latest = list
	w.delivered++
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default: // the waiter reads latest anyway
	}
}

// state is the latest list and how many lists were delivered so far.
func (w *watcher) state() ([]registry.Instance, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.delivered
}

// waitFor waits until the latest delivered list satisfies cond and returns how long it took.
func (w *watcher) waitFor(t *testing.T, what string, cond func([]registry.Instance) bool) time.Duration {
	t.Helper()
	began := time.Now()
	deadline := time.After(changeBound)
	for {
		latest, delivered := w.state()
		if delivered > 0 && cond(latest) {
			return time.Since(began)
		}
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("no list with %s within %v; latest of %d delivered: %s", what, changeBound, delivered, describe(latest))
		}
	}
}

func describe(list []registry.Instance) string {
	parts := make([]string, len(list))
	for i, in := range list {
		parts[i] = in.Key()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func ports(list []registry.Instance) []int {
	out := make([]int, len(list))
	for i, in := range list {
		out[i] = in.Port
	}
	return out
}

func hasPorts(want ...int) func([]registry.Instance) bool {
	return func(list []registry.Instance) bool {
		got := ports(list)
		if len(got) != len(want) {
			return false
		}
		for _, p := range want {
			found := false
			for _, g := range got {
				found = found || g == p
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// startServer starts an r-nacos for the test (skipped without cargo, unless CI=true).
func startServer(t *testing.T, opts rnacos.Options) *rnacos.Server {
	t.Helper()
	skipShort(t)
	return rnacos.StartForTest(t, opts)
}
