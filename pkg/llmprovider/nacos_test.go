package llmprovider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
)

func connect(t *testing.T, addr string) *Registrar {
	t.Helper()
	r, err := Connect(NacosOptions{Address: addr, Timeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

func testInstance(t *testing.T, port uint64) Instance {
	meta, err := Spec{Cluster: "chat", ID: "alpha", APIKey: testKey}.Metadata()
	require.NoError(t, err)
	return Instance{
		Service: "llm-alpha", Group: fmt.Sprintf("provider_test_%d", time.Now().UnixNano()),
		IP: "127.0.0.1", Port: port, Weight: 1, Metadata: meta,
	}
}

func TestRegisterAndDeregister(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Polaris registry")
	}
	r := connect(t, polaris.ForTest(t))
	in := testInstance(t, 18080)

	require.NoError(t, r.Register(in))
	require.Eventually(t, func() bool {
		ok, err := r.Present(in)
		return err == nil && ok
	}, 10*time.Second, 100*time.Millisecond, "registered instance not listed")

	require.NoError(t, r.Deregister(in))
	require.Eventually(t, func() bool {
		ok, err := r.Present(in)
		return err == nil && !ok
	}, 10*time.Second, 100*time.Millisecond, "deregistered instance still listed")
}

// A registry that lost the instance (restarted without data, or an operator removed it) gets
// it back within one check interval.
func TestKeepRegisteredRegistersAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Polaris registry")
	}
	addr := polaris.ForTest(t)
	r := connect(t, addr)
	in := testInstance(t, 18081)
	require.NoError(t, r.Register(in))

	var mu sync.Mutex
	var reports []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.KeepRegistered(ctx, in, 200*time.Millisecond, func(msg string) {
			mu.Lock()
			reports = append(reports, msg)
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		<-done
	}()

	// Someone else removes the instance from the registry.
	other := connect(t, addr)
	require.NoError(t, other.Deregister(in))

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > 0 && strings.Contains(reports[0], "registered it again")
	}, 15*time.Second, 100*time.Millisecond, "instance not registered again")
	require.Eventually(t, func() bool {
		ok, err := r.Present(in)
		return err == nil && ok
	}, 10*time.Second, 100*time.Millisecond)
	mu.Lock()
	for _, msg := range reports {
		assert.NotContains(t, msg, testKey)
	}
	mu.Unlock()
}

func TestKeepRegisteredReportsAnUnreachableRegistryOnce(t *testing.T) {
	// Nothing listens on port 1 of loopback.
	r := connect(t, "127.0.0.1:1")
	in := testInstance(t, 18082)

	var mu sync.Mutex
	var reports []string
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	r.KeepRegistered(ctx, in, 100*time.Millisecond, func(msg string) {
		mu.Lock()
		reports = append(reports, msg)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 1, "one report per change of state, not per check: %q", reports)
	assert.Contains(t, reports[0], "cannot check the registration")
}

// A registry restarted without its data answers the next heartbeat "not found"; the registrar
// registers the instance again from it, without KeepRegistered.
func TestHeartbeatRegistersAgainAfterAWipedRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Polaris registry")
	}
	srv := polaris.StartForTest(t)
	r, err := Connect(NacosOptions{Address: srv.Addr(), Timeout: 3 * time.Second, BeatInterval: 300 * time.Millisecond})
	require.NoError(t, err)
	in := testInstance(t, 18083)
	require.NoError(t, r.Register(in))
	require.Eventually(t, func() bool { ok, err := r.Present(in); return err == nil && ok }, 10*time.Second, 50*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, srv.RestartWiped(ctx))
	began := time.Now()
	require.Eventually(t, func() bool { ok, err := r.Present(in); return err == nil && ok }, 10*time.Second, 50*time.Millisecond,
		"registered again by its heartbeat")
	t.Logf("registered again %v after the wiped restart (heartbeat every 300ms)", time.Since(began).Round(10*time.Millisecond))
	require.NoError(t, r.Deregister(in))
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
}
