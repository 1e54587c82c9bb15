package llmregistry_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/sockets"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// assertNothingAnswers checks that process pid holds no UDP socket (and, for a child process,
// no TCP listener), and that a dump datagram to any UDP port it holds gets no answer. The
// nacos-sdk-go NamingClient this replaces answered such a datagram with every API key.
func assertNothingAnswers(t *testing.T, pid int, tcpToo bool) {
	t.Helper()
	udp, err := sockets.UDP(pid)
	require.NoError(t, err)
	assert.Empty(t, udp, "UDP sockets held by pid %d: %s", pid, sockets.Describe(udp))
	for _, s := range udp {
		reply, err := sockets.Answers(s.Port, sockets.DumpRequest, 500*time.Millisecond)
		require.NoError(t, err)
		assert.Empty(t, reply, "UDP port %d answered a dump request", s.Port)
	}
	if tcpToo {
		tcp, err := sockets.TCPListeners(pid)
		require.NoError(t, err)
		assert.Empty(t, tcp, "TCP listeners of pid %d: %s", pid, sockets.Describe(tcp))
	}
}

// The socket check sees a UDP socket when there is one (so an empty result means something).
func TestSocketCheckSeesAUDPSocket(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	udp, err := sockets.UDP(os.Getpid())
	require.NoError(t, err)
	found := false
	for _, s := range udp {
		found = found || s.Port == conn.LocalAddr().(*net.UDPAddr).Port
	}
	assert.True(t, found, "own socket on port %d not found in %s", conn.LocalAddr().(*net.UDPAddr).Port, sockets.Describe(udp))
}

// After discovery, with a gateway watching and a provider registered (heartbeating over HTTP,
// connected over gRPC) in this process, the process holds no UDP socket and nothing answers a
// dump request.
func nothingListensForPushes(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("quiet"), llmstub.WithAPIKey("sk-never-dumped"))
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, tg, addr, group)
	p.register("quiet-svc", up, meta("cluster", "chat", "id", "quiet", "llm-meta.api_key", "sk-never-dumped"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "quiet") }, discoveryBound, poll)
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	time.Sleep(2 * refreshInterval) // a few passes and heartbeats
	assertNothingAnswers(t, os.Getpid(), false)
}

// `pixiu llm register` as a separate process: registered, routed, and it holds no UDP socket
// and no TCP listener; SIGTERM deregisters it.
func TestIntegrationLLMRegisterListensOnNothing(t *testing.T) {
	t.Parallel()
	tg := targets[0]
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("child"), llmstub.WithAPIKey("sk-child"))
	host, port, _ := strings.Cut(up.Addr(), ":")
	g := startGatewayOver(t, tg.registry(), addr, group, "chat", llmstub.Start(t))
	child := startRegister(t, []string{"CHILD_KEY=sk-child"}, "--nacos", addr, "--group", group, "--service", "child-svc",
		"--cluster", "chat", "--id", "child", "--ip", host, "--port", port, "--api-key-env", "CHILD_KEY")

	require.Eventually(t, func() bool { return g.hasMember("chat", "child") }, discoveryBound, poll)
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)
	time.Sleep(time.Second)
	assertNothingAnswers(t, child.cmd.Process.Pid, true)

	require.NoError(t, child.cmd.Process.Signal(syscall.SIGTERM))
	<-child.done
	require.NoError(t, child.cmd.Wait())
	out := child.output()
	assert.Contains(t, out, "deregistered")
	assert.NotContains(t, out, "sk-child")
	assert.NotContains(t, out, "Local IP", "no SDK log line")
	require.Eventually(t, func() bool { return !g.hasMember("chat", "child") }, discoveryBound, poll)
}

// registerChild is a `pixiu llm register` process.
type registerChild struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when its output ended
	mu   sync.Mutex
	out  strings.Builder
}

func (c *registerChild) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// builtPixiu is the pixiu binary the tests run, built once; TestMain removes its dir.
var builtPixiu struct {
	once      sync.Once
	dir, path string
	err       error
}

func pixiuBinary(t *testing.T) string {
	t.Helper()
	builtPixiu.once.Do(func() {
		builtPixiu.dir, builtPixiu.err = os.MkdirTemp("", "pixiu-it-")
		if builtPixiu.err != nil {
			return
		}
		builtPixiu.path = filepath.Join(builtPixiu.dir, "pixiu")
		if out, err := exec.Command("go", "build", "-o", builtPixiu.path, "../../../cmd/pixiu").CombinedOutput(); err != nil {
			builtPixiu.err = fmt.Errorf("build pixiu: %w: %s", err, out)
		}
	})
	require.NoError(t, builtPixiu.err)
	return builtPixiu.path
}

// startRegister builds pixiu (once) and runs `pixiu llm register args...` with env added; the process
// is killed at the end of the test.
func startRegister(t *testing.T, env []string, args ...string) *registerChild {
	t.Helper()
	bin := pixiuBinary(t)
	c := &registerChild{cmd: exec.Command(bin, append([]string{"llm", "register"}, args...)...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	c.cmd.Stderr = c.cmd.Stdout
	require.NoError(t, c.cmd.Start())
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); <-c.done; _ = c.cmd.Wait() })
	return c
}

// The registry restarts with its store wiped while the provider stays up and registers again
// 8 s later (as its heartbeat or `pixiu llm register`'s check would; its own heartbeat is set
// far apart so the moment is the test's). Meanwhile 10 requests/s through the gateway: none
// fails, and the state is shown in the admin status. The provider registers over HTTP on every
// target: a gRPC registrar registers again by itself as soon as it reconnects, so the registry
// would not stay empty (TestReconnectGRPCRegistryRestartsWiped checks that case).
func registryRestartsEmpty(t *testing.T, tg target) {
	reg := tg.ownServer(t)
	group := uniqueGroup(t)
	up := llmstub.Start(t, llmstub.WithName("survivor"))
	g := startGatewayOver(t, tg.registry(), reg.addr, group, "chat", llmstub.Start(t))
	p := newHTTPProvider(t, reg.addr, group, time.Minute)
	p.register("survivor-svc", up, meta("cluster", "chat", "id", "survivor"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "survivor") }, discoveryBound, poll)

	load := startLoad(g, 100*time.Millisecond)
	time.Sleep(time.Second)
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	restarted := time.Now()
	require.NoError(t, reg.restart(wctx, true))
	// The gateway notices the registry forgot the service, and keeps routing it.
	require.Eventually(t, func() bool { return g.adapter.Status()[0].Forgotten != nil }, discoveryBound, poll)
	st := g.adapter.Status()[0]
	assert.Equal(t, []string{"survivor-svc"}, st.Forgotten.Services)
	assert.True(t, g.hasMember("chat", "survivor"))

	// The registry stays empty until the provider registers again.
	time.Sleep(time.Until(restarted.Add(8 * time.Second)))
	probe, err := llmprovider.Connect(llmprovider.NacosOptions{Address: reg.addr, Namespace: "public"})
	require.NoError(t, err)
	defer probe.Close()
	present, err := probe.Present(p.instance("survivor-svc", up, nil))
	require.NoError(t, err)
	require.False(t, present, "the wiped registry does not know the instance yet")
	assert.True(t, g.hasMember("chat", "survivor"), "still routed 8 s into the outage")
	p.register("survivor-svc", up, meta("cluster", "chat", "id", "survivor"))
	back := time.Since(restarted)
	t.Logf("registry restarted empty; provider registered again %v later", back.Round(100*time.Millisecond))
	require.Eventually(t, func() bool { return g.adapter.Status()[0].Forgotten == nil }, discoveryBound, poll)
	time.Sleep(3 * time.Second)
	sent, failed, why := load.stop()

	assert.Zero(t, failed, "%d of %d requests failed: %v", failed, sent, why)
	assert.GreaterOrEqual(t, sent, int64(10*back/time.Second), "load ran for the whole time")
	assert.True(t, g.hasMember("chat", "survivor"))
	assert.Equal(t, 1, strings.Count(g.logs.String(), "lists none of the services"), "logged once:\n%s", g.logs.String())
	assert.Zero(t, strings.Count(g.logs.String(), "endpoint removed"))
}
