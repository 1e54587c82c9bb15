package rnacos_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

func start(t *testing.T, opts rnacos.Options) *rnacos.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts r-nacos")
	}
	began := time.Now()
	s := rnacos.StartForTest(t, opts)
	t.Logf("start -> ready: %v, RSS %d KiB", time.Since(began), rssKiB(t, s.PID()))
	return s
}

func uniqueName(what string) string { return fmt.Sprintf("pixiu-%s-%d", what, time.Now().UnixNano()) }

func TestPortsAndLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t, rnacos.Options{})
	host, portText, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	assert.Equal(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1000)), s.GRPCAddr(), "gRPC is HTTP + 1000")
	// The console (default HTTP port + 2000) is off.
	_, err = net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+2000)), time.Second)
	assert.Error(t, err, "no console listener")

	require.NoError(t, s.Kill())
	require.NoError(t, s.Kill(), "Kill of a dead server is a no-op")
	_, err = http.Get("http://" + s.Addr() + "/nacos/v1/ns/service/list")
	require.Error(t, err, "a killed server does not answer")
	began := time.Now()
	require.NoError(t, s.Restart(restartCtx(t), rnacos.KeepStore))
	t.Logf("kill + restart -> ready: %v", time.Since(began))

	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop(), "Stop is idempotent")
	require.Error(t, s.Restart(restartCtx(t), rnacos.KeepStore), "no Restart after Stop")
}

// What r-nacos's Nacos 1.x HTTP open API does, as the HTTP transport relies on it.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	s := start(t, rnacos.Options{})
	api := openAPI{t: t, addr: s.Addr()}
	group := uniqueName("group")
	var want []string
	for i := range 25 {
		service := uniqueName("svc" + strconv.Itoa(i))
		want = append(want, service)
		api.register(service, group, 18000+i, map[string]string{"cluster": "chat", "llm-meta.api_key": "sk-x"})
	}

	// Paging: a walk with small pages sees every service once.
	names := api.allServices(group, 10)
	assert.ElementsMatch(t, want, names)
	_, count := api.servicePage(group, 1, 10)
	t.Logf("service list count field with 25 services in the group: %d", count)
	others, _ := api.servicePage(group+"-other", 1, 10)
	assert.Empty(t, others, "another group lists none")

	hosts := api.instances(want[0], group)
	require.Len(t, hosts, 1)
	assert.Equal(t, 18000, hosts[0].Port)
	assert.Equal(t, "sk-x", hosts[0].Metadata["llm-meta.api_key"])
	assert.True(t, hosts[0].Healthy && hosts[0].Enabled && hosts[0].Ephemeral)
	t.Logf("beat answer: %s", api.beat(want[0], group, 18000))

	// The last instance leaves: the instance list is empty at once.
	api.deregister(want[0], group, 18000)
	assert.Empty(t, api.instances(want[0], group))
	listed := false
	for _, n := range api.allServices(group, 100) {
		listed = listed || n == want[0]
	}
	assert.True(t, listed, "the service of a last instance that left stays listed")
}

// An ephemeral instance registered over HTTP without heartbeats goes after r-nacos's timeouts
// (shortened here from 15s and 30s; with the defaults it went after about 34s). It is not listed
// as unhealthy first: it is listed healthy until it goes.
func TestHeartbeatExpiry(t *testing.T) {
	t.Parallel()
	s := start(t, rnacos.Options{Env: []string{
		"RNACOS_NAMING_HEALTH_TIMEOUT_SECOND=2", "RNACOS_NAMING_INSTANCE_TIMEOUT_SECOND=4",
	}})
	api := openAPI{t: t, addr: s.Addr()}
	service, group := uniqueName("beat"), "pixiu-test"
	api.register(service, group, 18100, nil)
	began := time.Now()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		hosts := api.instances(service, group)
		for _, h := range hosts {
			assert.True(ct, h.Healthy, "listed unhealthy")
		}
		assert.Empty(ct, hosts)
	}, 30*time.Second, 100*time.Millisecond)
	t.Logf("no beat: removed after %v (health timeout 2s, instance timeout 4s)", time.Since(began))
}

// What survives a restart: with the store kept and wiped.
func TestRestartStore(t *testing.T) {
	t.Parallel()
	s := start(t, rnacos.Options{})
	api := openAPI{t: t, addr: s.Addr()}
	service, group := uniqueName("restart"), "pixiu-test"
	api.register(service, group, 18200, map[string]string{"k": "v"})

	// Ephemeral instances live in memory only: even with the store kept, a restarted server
	// knows neither them nor their services until they register again.
	require.NoError(t, s.Restart(restartCtx(t), rnacos.KeepStore))
	assert.Empty(t, api.instances(service, group))
	assert.Empty(t, api.allServices(group, 100))
	api.register(service, group, 18200, map[string]string{"k": "v"})

	require.NoError(t, s.Restart(restartCtx(t), rnacos.WipeStore))
	assert.Empty(t, api.allServices(group, 100), "a wiped server lists nothing")
	assert.Empty(t, api.instances(service, group))
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := start(t, rnacos.Options{Username: "pixiu", Password: "pixiu-pass"})
	anonymous := openAPI{t: t, addr: s.Addr()}
	status, body := anonymous.call(http.MethodGet, "/nacos/v1/ns/service/list", url.Values{"pageNo": {"1"}, "pageSize": {"10"}})
	assert.Equal(t, http.StatusForbidden, status, body)
	t.Logf("service list without token: %d %s", status, body)

	token, err := s.AccessToken(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, token)
	api := openAPI{t: t, addr: s.Addr(), token: token}
	names, _ := api.servicePage("pixiu-test", 1, 10)
	assert.Empty(t, names)
}

// A provider that comes back with new metadata (a rotated API key) must be seen with it. r-nacos
// keeps "priority metadata" per ip:port, which wins over what an instance registers with, for
// 60s after the instance left:
//   - with RNACOS_NAMING_INSTANCE_METADATA_PERSISTENCE_ENABLE=true (r-nacos's default) it is the
//     first metadata the instance registered with. The harness turns the setting off.
//   - in any case, a registration over HTTP that changes the metadata of a live instance pins
//     the new metadata.
func TestMetadataChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		env          []string
		updateFirst  bool
		metaWhenBack string
	}{
		{name: "harness default", metaWhenBack: "3"},
		{name: "r-nacos default", env: []string{"RNACOS_NAMING_INSTANCE_METADATA_PERSISTENCE_ENABLE=true"}, metaWhenBack: "1"},
		{name: "updated over HTTP first", updateFirst: true, metaWhenBack: "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, rnacos.Options{Env: tc.env})
			api := openAPI{t: t, addr: s.Addr()}
			service, group := uniqueName("meta"), "pixiu-test"
			metaOf := func() string {
				hosts := api.instances(service, group)
				require.Len(t, hosts, 1)
				return hosts[0].Metadata["v"]
			}
			api.register(service, group, 18300, map[string]string{"v": "1"})
			if tc.updateFirst {
				api.register(service, group, 18300, map[string]string{"v": "2"})
				assert.Equal(t, "2", metaOf(), "registering again updates the metadata")
			}
			api.deregister(service, group, 18300)
			require.Empty(t, api.instances(service, group))
			api.register(service, group, 18300, map[string]string{"v": "3"})
			assert.Equal(t, tc.metaWhenBack, metaOf(), "metadata of an instance that came back")
		})
	}
}
