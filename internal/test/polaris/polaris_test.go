package polaris_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
)

// namingClient is the module's Nacos client, closed at the end of the test.
type namingClient struct {
	*nacos.Client
	t *testing.T
}

func newNamingClient(t *testing.T, addr, namespace string) namingClient {
	t.Helper()
	c, err := nacos.NewClient(nacos.ClientOptions{Address: addr, Namespace: namespace, Timeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return namingClient{Client: c, t: t}
}

func (c namingClient) register(service, group string, port uint64, md map[string]string) {
	c.t.Helper()
	require.NoError(c.t, c.Register(context.Background(), group, service, instance(port, md)))
}

func (c namingClient) deregister(service, group string, port uint64) {
	c.t.Helper()
	require.NoError(c.t, c.Deregister(context.Background(), group, service, instance(port, nil)))
}

func instance(port uint64, md map[string]string) nacos.Instance {
	return nacos.Instance{IP: "127.0.0.1", Port: port, Weight: 1, Enabled: true, Healthy: true, Ephemeral: true, Metadata: md}
}

// lastInstanceLag bounds how long Polaris' Nacos API may keep listing a
// service's last instance after it deregistered. Its naming log shows the
// delete at once, but the Nacos view sometimes only catches up 12-35s later
// (all affected services in the same second), while any other change shows
// within ~1s.
const lastInstanceLag = 60 * time.Second

// uniqueName keeps tests independent when they share an external Nacos.
func uniqueName(what string) string {
	return fmt.Sprintf("pixiu-%s-%d", what, time.Now().UnixNano())
}

// listServices walks the service list the robust way: a large page, stop on a
// short page, skip the empty names Polaris pads pages with.
func listServices(c namingClient, group string) ([]string, error) {
	const pageSize = 1000
	var names []string
	for page := 1; page <= 100; page++ {
		l, err := c.Services(context.Background(), group, page, pageSize)
		if err != nil {
			return nil, err
		}
		for _, n := range l.Doms {
			if n != "" {
				names = append(names, n)
			}
		}
		if len(l.Doms) < pageSize {
			break
		}
	}
	return names, nil
}

// rawInstanceCount asks the server directly, with a plain HTTP request.
func rawInstanceCount(addr, service, group string) (int, error) {
	resp, err := http.Get("http://" + addr + "/nacos/v1/ns/instance/list?serviceName=" + group + "@@" + service)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	var body struct{ Hosts []struct{ IP string } }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return len(body.Hosts), nil
}

func TestRegisterListSelectDeregister(t *testing.T) {
	t.Parallel()
	addr := polaris.ForTest(t)
	c := newNamingClient(t, addr, "public")
	service, group := uniqueName("svc"), "pixiu-test"
	md := map[string]string{"provider": "openai", "models": "gpt-4o,gpt-4o-mini"}

	began := time.Now()
	c.register(service, group, 18080, md)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		names, err := listServices(c, group)
		require.NoError(ct, err)
		assert.Contains(ct, names, service)
	}, 10*time.Second, 50*time.Millisecond)
	t.Logf("registered service listed after %v", time.Since(began))

	// The empty namespace id is the same namespace as "public".
	names, err := listServices(newNamingClient(t, addr, ""), group)
	require.NoError(t, err)
	assert.Contains(t, names, service)
	// ...and another group does not list it.
	names, err = listServices(c, group+"-other")
	require.NoError(t, err)
	assert.NotContains(t, names, service)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		insts, err := c.Instances(context.Background(), group, service)
		require.NoError(ct, err)
		require.Len(ct, insts, 1)
		assert.Equal(ct, "127.0.0.1", insts[0].IP)
		assert.EqualValues(ct, 18080, insts[0].Port)
		for k, v := range md { // Polaris adds internal-nacos-* keys
			assert.Equal(ct, v, insts[0].Metadata[k], "metadata %q", k)
		}
	}, 10*time.Second, 50*time.Millisecond)

	c.deregister(service, group, 18080)
	// Usually gone in ~1s, but see lastInstanceLag.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(addr, service, group)
		require.NoError(ct, err)
		assert.Zero(ct, n)
	}, lastInstanceLag, 50*time.Millisecond)
}

// Changes show in the server's reads within about a second (the adapter finds changes by
// reading; nothing is pushed to it).
func TestChangesShowInReads(t *testing.T) {
	t.Parallel()
	addr := polaris.ForTest(t)
	watcher := newNamingClient(t, addr, "public")
	provider := newNamingClient(t, addr, "public")
	service, group := uniqueName("read"), "pixiu-test"
	waitFor := func(what string, limit time.Duration, cond func([]nacos.Instance) bool) {
		began := time.Now()
		require.Eventually(t, func() bool {
			in, err := watcher.Instances(context.Background(), group, service)
			return err == nil && cond(in)
		}, limit, 20*time.Millisecond, what)
		t.Logf("%s: %v", what, time.Since(began).Round(time.Millisecond))
	}
	provider.register(service, group, 18081, map[string]string{"k": "v"})
	waitFor("register -> read", 10*time.Second, func(s []nacos.Instance) bool {
		return len(s) == 1 && s[0].Port == 18081 && s[0].Metadata["k"] == "v"
	})
	require.NoError(t, provider.Update(context.Background(), group, service, instance(18081, map[string]string{"k": "v2"})))
	waitFor("update -> read", 10*time.Second, func(s []nacos.Instance) bool { return len(s) == 1 && s[0].Metadata["k"] == "v2" })
	provider.register(service, group, 18082, nil)
	waitFor("second register -> read", 10*time.Second, func(s []nacos.Instance) bool { return len(s) == 2 })
	provider.deregister(service, group, 18082)
	waitFor("deregister -> read", 10*time.Second, func(s []nacos.Instance) bool { return len(s) == 1 })
	provider.deregister(service, group, 18081)
	waitFor("last deregister -> read", lastInstanceLag, func(s []nacos.Instance) bool { return len(s) == 0 })
}

// RestartWiped loses everything: the service list is empty, a heartbeat is answered "not
// found" (so the registrar registers again), and a registration brings the service back.
func TestRestartWipedForgetsEverything(t *testing.T) {
	t.Parallel()
	s := polaris.StartForTest(t)
	c := newNamingClient(t, s.Addr(), "public")
	service, group := uniqueName("wiped"), "pixiu-test"
	c.register(service, group, 18085, map[string]string{"k": "v"})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		names, err := listServices(c, group)
		require.NoError(ct, err)
		assert.Contains(ct, names, service)
	}, 10*time.Second, 50*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.RestartWiped(ctx))
	names, err := listServices(c, group)
	require.NoError(t, err)
	assert.Empty(t, names, "nothing survives a wiped restart")
	n, err := rawInstanceCount(s.Addr(), service, group)
	require.NoError(t, err)
	assert.Zero(t, n, "an unknown service reads as empty, not as an error")
	reply, err := c.Beat(ctx, group, service, instance(18085, nil), 5*time.Second)
	require.NoError(t, err)
	assert.True(t, reply.NotFound, "a heartbeat for a forgotten instance says so")

	c.register(service, group, 18085, map[string]string{"k": "v"})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		names, err := listServices(c, group)
		require.NoError(ct, err)
		assert.Contains(ct, names, service)
	}, 10*time.Second, 50*time.Millisecond)
}

func TestTwoServersAtOnce(t *testing.T) {
	t.Parallel()
	if os.Getenv(polaris.EnvAddr) != "" {
		t.Skip("tests local port picking; an external Nacos is configured")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var servers [2]*polaris.Server
	var errs [2]error
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = polaris.Start(ctx, polaris.Options{StopGrace: -1})
		}()
	}
	wg.Wait()
	for i, s := range servers {
		if s != nil {
			t.Cleanup(func() { assert.NoError(t, s.Stop()) })
		}
		require.NoError(t, errs[i])
	}
	require.NotEqual(t, servers[0].Addr(), servers[1].Addr())

	// Both answer, and they are separate registries.
	service, group := uniqueName("iso"), "pixiu-test"
	a := newNamingClient(t, servers[0].Addr(), "public")
	b := newNamingClient(t, servers[1].Addr(), "public")
	a.register(service, group, 18083, nil)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(servers[0].Addr(), service, group)
		require.NoError(ct, err)
		assert.Equal(ct, 1, n)
	}, 10*time.Second, 50*time.Millisecond)
	names, err := listServices(b, group)
	require.NoError(t, err)
	assert.NotContains(t, names, service)
	a.deregister(service, group, 18083)
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := polaris.StartForTest(t)
	addr := s.Addr()
	c := newNamingClient(t, addr, "public")
	service, group := uniqueName("restart"), "pixiu-test"
	c.register(service, group, 18084, map[string]string{"k": "v"})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(addr, service, group)
		require.NoError(ct, err)
		assert.Equal(ct, 1, n)
	}, 10*time.Second, 50*time.Millisecond)

	require.NoError(t, s.Kill())
	require.NoError(t, s.Kill(), "Kill of a dead server is a no-op")
	_, err := http.Get("http://" + addr + "/nacos/v1/ns/service/list?pageNo=1&pageSize=10")
	require.Error(t, err, "a killed server must not answer")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	require.NoError(t, s.Restart(ctx))
	t.Logf("restart -> ready: %v", time.Since(began))
	assert.Equal(t, addr, s.Addr(), "same address after restart")

	// Polaris keeps services and even ephemeral instances in polaris.bolt,
	// so they are there straight away, not only after the next heartbeat.
	n, err := rawInstanceCount(addr, service, group)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "instance survives a restart")
	names, err := listServices(c, group)
	require.NoError(t, err)
	assert.Contains(t, names, service)

	c.deregister(service, group, 18084)
	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop(), "Stop is idempotent")
	require.Error(t, s.Restart(ctx), "no Restart after Stop")
}

func TestForTestHonoursEnv(t *testing.T) {
	t.Setenv(polaris.EnvAddr, "127.0.0.1:1")
	assert.Equal(t, "127.0.0.1:1", polaris.ForTest(t))

	reached := false
	t.Run("StartForTest skips", func(t *testing.T) {
		polaris.StartForTest(t)
		reached = true
	})
	assert.False(t, reached, "StartForTest must skip with an external server")
}
