package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// slogLine is a line of the gateway's text logger: time, level, message, attributes.
var slogLine = regexp.MustCompile(`^time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=`)

// syncBuffer is an io.Writer the child process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Every line the gateway writes, on stdout and on stderr, comes from its own slog logger, also
// with a registry adapter running the Nacos SDK (whose default zap logger once printed a
// coloured "Local IP" line at start-up).
func TestGatewayOutputIsOnlyItsOwnLogLinesWithARegistryAdapter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary against the registry server")
	}
	bin := buildBinary(t)
	addr := polaris.ForTest(t)
	group := fmt.Sprintf("output-test-%d", time.Now().UnixNano())
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "pixiu.yaml")
	text := gatewayconfig.OneRoute{
		Port: port,
		Filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "5s"}),
			gatewayconfig.Filter("dgp.filter.llm.tokenizer", map[string]any{"log_to_console": true})},
		Adapters: []*model.Adapter{gatewayconfig.RegistryAdapter(registry.Config{Protocol: "nacos", Address: addr,
			Timeout: 3 * time.Second, Group: group, Namespace: "public", RefreshInterval: 500 * time.Millisecond})},
	}.YAML()
	require.NoError(t, os.WriteFile(cfg, []byte(text), 0o600))

	stub := llmstub.Start(t)
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: addr, Timeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	meta, err := llmprovider.Spec{Cluster: "chat", ID: "stub"}.Metadata()
	require.NoError(t, err)
	inst := llmprovider.Instance{Service: "llm-stub", Group: group, IP: "127.0.0.1", Port: uint64(stubPort(t, stub)), Weight: 1, Metadata: meta}
	require.NoError(t, reg.Register(inst))
	t.Cleanup(func() { _ = reg.Deregister(inst) })

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "gateway", "start", "-c", cfg, "-l", "debug")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// A request routed to the registered provider shows that the adapter and the SDK ran.
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port)
	require.Eventually(t, func() bool {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"model":"m","messages":[]}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "the registered provider was never routed; stderr:\n%s", &stderr)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "stderr:\n%s", &stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway did not exit after SIGTERM; stderr:\n%s", &stderr)
	}
	exited <- nil // for the cleanup

	assert.Empty(t, stdout.String(), "the gateway logs to stderr only")
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		assert.Regexp(t, slogLine, line, "a line that did not come from the gateway's logger")
	}
	assert.NotContains(t, stderr.String(), "Local IP")
	assert.Contains(t, stderr.String(), `msg="llm usage"`, "the tokenizer's line goes through the same logger")
}

func stubPort(t *testing.T, s *llmstub.Stub) int {
	t.Helper()
	var port int
	_, err := fmt.Sscanf(s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:], "%d", &port)
	require.NoError(t, err)
	return port
}
