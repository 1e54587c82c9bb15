package polaris_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/clients/nacos_client"
	"github.com/nacos-group/nacos-sdk-go/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/common/logger"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/util"
	"github.com/nacos-group/nacos-sdk-go/vo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/test/polaris"
)

// sdkDir holds the SDK's cache files for the whole package run. Not
// t.TempDir: SDK v1 clients cannot be closed and may still write there while
// a test's temp dir is being removed.
var sdkDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pixiu-nacos-sdk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sdkDir = dir
	// nacos-sdk-go v1.1.4 fills a package-level cache in util.LocalIP
	// without a lock on first use, which -race reports as soon as two clients
	// query at once. Fill it before any client exists, with the logger
	// already quiet.
	_ = logger.InitLogger(logger.Config{CustomLogger: sdkLogger{}})
	_ = util.LocalIP()
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// sdkLogger discards the SDK's logs (by default it writes ./log under the
// working directory) but counts received UDP pushes. The SDK logger is a
// process-wide global: the last client created wins, all use this type.
type sdkLogger struct{}

var udpPushes atomic.Int64

func (sdkLogger) Info(args ...any) {
	if len(args) > 0 {
		if s, ok := args[0].(string); ok && strings.HasPrefix(s, "receive push") {
			udpPushes.Add(1)
		}
	}
}
func (sdkLogger) Warn(...any)           {}
func (sdkLogger) Error(...any)          {}
func (sdkLogger) Debug(...any)          {}
func (sdkLogger) Infof(string, ...any)  {}
func (sdkLogger) Warnf(string, ...any)  {}
func (sdkLogger) Errorf(string, ...any) {}
func (sdkLogger) Debugf(string, ...any) {}

// newNamingClient builds the client the way clients.NewNamingClient does.
// That package also links the config client and its Aliyun KMS dependency,
// which the gateway does not need.
func newNamingClient(t *testing.T, addr, namespace string) naming_client.INamingClient {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.ParseUint(portStr, 10, 16)
	require.NoError(t, err)

	nc := &nacos_client.NacosClient{}
	require.NoError(t, nc.SetClientConfig(constant.ClientConfig{
		NamespaceId:         namespace,
		TimeoutMs:           3000,
		NotLoadCacheAtStart: true,
		// Without this the SDK ignores an empty instance list, so the
		// removal of a service's last instance is never seen.
		UpdateCacheWhenEmpty: true,
		CacheDir:             sdkDir,
		LogDir:               sdkDir,
		CustomLogger:         sdkLogger{},
	}))
	require.NoError(t, nc.SetServerConfig([]constant.ServerConfig{{IpAddr: host, Port: port, ContextPath: "/nacos"}}))
	require.NoError(t, nc.SetHttpAgent(&http_agent.HttpAgent{}))
	c, err := naming_client.NewNamingClient(nc)
	require.NoError(t, err)
	return &c
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

func registerParam(service, group string, port uint64, md map[string]string) vo.RegisterInstanceParam {
	return vo.RegisterInstanceParam{
		Ip: "127.0.0.1", Port: port, Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
		ServiceName: service, GroupName: group, Metadata: md,
	}
}

func deregisterParam(service, group string, port uint64) vo.DeregisterInstanceParam {
	return vo.DeregisterInstanceParam{Ip: "127.0.0.1", Port: port, ServiceName: service, GroupName: group, Ephemeral: true}
}

// listServices walks the service list the robust way: a large page, stop on a
// short page, skip the empty names Polaris pads pages with.
func listServices(c naming_client.INamingClient, namespace, group string) ([]string, error) {
	const pageSize = 1000
	var names []string
	for page := uint32(1); page <= 100; page++ {
		l, err := c.GetAllServicesInfo(vo.GetAllServiceInfoParam{NameSpace: namespace, GroupName: group, PageNo: page, PageSize: pageSize})
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

// rawInstanceCount asks the server directly, bypassing the SDK cache.
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
	ok, err := c.RegisterInstance(registerParam(service, group, 18080, md))
	require.NoError(t, err)
	require.True(t, ok)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		names, err := listServices(c, "public", group)
		require.NoError(ct, err)
		assert.Contains(ct, names, service)
	}, 10*time.Second, 50*time.Millisecond)
	t.Logf("registered service listed after %v", time.Since(began))

	// The empty namespace id is the same namespace as "public".
	names, err := listServices(newNamingClient(t, addr, ""), "", group)
	require.NoError(t, err)
	assert.Contains(t, names, service)
	// ...and another group does not list it.
	names, err = listServices(c, "public", group+"-other")
	require.NoError(t, err)
	assert.NotContains(t, names, service)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		insts, err := c.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: service, GroupName: group})
		require.NoError(ct, err)
		require.Len(ct, insts, 1)
		assert.Equal(ct, "127.0.0.1", insts[0].Ip)
		assert.EqualValues(ct, 18080, insts[0].Port)
		for k, v := range md { // Polaris adds internal-nacos-* keys
			assert.Equal(ct, v, insts[0].Metadata[k], "metadata %q", k)
		}
	}, 10*time.Second, 50*time.Millisecond)

	ok, err = c.DeregisterInstance(deregisterParam(service, group, 18080))
	require.NoError(t, err)
	require.True(t, ok)
	// Usually gone in ~1s, but see lastInstanceLag.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(addr, service, group)
		require.NoError(ct, err)
		assert.Zero(ct, n)
	}, lastInstanceLag, 50*time.Millisecond)
}

func TestSubscribePush(t *testing.T) {
	t.Parallel()
	addr := polaris.ForTest(t)
	watcher := newNamingClient(t, addr, "public")
	provider := newNamingClient(t, addr, "public")
	service, group := uniqueName("sub"), "pixiu-test"

	var mu sync.Mutex
	var latest []model.SubscribeService
	changed := make(chan struct{}, 100)
	require.NoError(t, watcher.Subscribe(&vo.SubscribeParam{
		ServiceName: service, GroupName: group,
		// An empty instance list arrives as (nil, "hosts is empty" error).
		SubscribeCallback: func(svcs []model.SubscribeService, err error) {
			mu.Lock()
			latest = svcs
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default: // the waiter re-reads latest anyway
			}
		},
	}))
	waitFor := func(what string, limit time.Duration, cond func([]model.SubscribeService) bool) time.Duration {
		began := time.Now()
		deadline := time.After(limit)
		for {
			mu.Lock()
			done := cond(latest)
			mu.Unlock()
			if done {
				return time.Since(began)
			}
			select {
			case <-changed:
			case <-deadline:
				n, err := rawInstanceCount(addr, service, group)
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no subscribe callback with %s within %v (server lists %d instances, err %v; last callback %+v)", what, limit, n, err, latest)
			}
		}
	}

	pushesBefore := udpPushes.Load()
	_, err := provider.RegisterInstance(registerParam(service, group, 18081, map[string]string{"k": "v"}))
	require.NoError(t, err)
	took := waitFor("the new instance", 10*time.Second, func(s []model.SubscribeService) bool {
		return len(s) == 1 && s[0].Port == 18081 && s[0].Metadata["k"] == "v"
	})
	t.Logf("register -> callback: %v (UDP pushes received meanwhile: %d)", took, udpPushes.Load()-pushesBefore)

	_, err = provider.RegisterInstance(registerParam(service, group, 18082, nil))
	require.NoError(t, err)
	took = waitFor("the second instance", 10*time.Second, func(s []model.SubscribeService) bool { return len(s) == 2 })
	t.Logf("second register -> callback: %v", took)

	_, err = provider.DeregisterInstance(deregisterParam(service, group, 18082))
	require.NoError(t, err)
	took = waitFor("one instance left", 10*time.Second, func(s []model.SubscribeService) bool { return len(s) == 1 })
	t.Logf("deregister -> callback: %v", took)

	_, err = provider.DeregisterInstance(deregisterParam(service, group, 18081))
	require.NoError(t, err)
	// The SDK reports an empty list only with UpdateCacheWhenEmpty; and see
	// lastInstanceLag.
	took = waitFor("no instance left", lastInstanceLag, func(s []model.SubscribeService) bool { return len(s) == 0 })
	t.Logf("last deregister -> callback: %v", took)
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
	_, err := a.RegisterInstance(registerParam(service, group, 18083, nil))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(servers[0].Addr(), service, group)
		require.NoError(ct, err)
		assert.Equal(ct, 1, n)
	}, 10*time.Second, 50*time.Millisecond)
	names, err := listServices(b, "public", group)
	require.NoError(t, err)
	assert.NotContains(t, names, service)
	_, err = a.DeregisterInstance(deregisterParam(service, group, 18083))
	require.NoError(t, err)
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := polaris.StartForTest(t)
	addr := s.Addr()
	c := newNamingClient(t, addr, "public")
	service, group := uniqueName("restart"), "pixiu-test"
	_, err := c.RegisterInstance(registerParam(service, group, 18084, map[string]string{"k": "v"}))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := rawInstanceCount(addr, service, group)
		require.NoError(ct, err)
		assert.Equal(ct, 1, n)
	}, 10*time.Second, 50*time.Millisecond)

	require.NoError(t, s.Kill())
	require.NoError(t, s.Kill(), "Kill of a dead server is a no-op")
	_, err = http.Get("http://" + addr + "/nacos/v1/ns/service/list?pageNo=1&pageSize=10")
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
	names, err := listServices(c, "public", group)
	require.NoError(t, err)
	assert.Contains(t, names, service)

	_, err = c.DeregisterInstance(deregisterParam(service, group, 18084))
	require.NoError(t, err)
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
