package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// buildBinary compiles cmd/pixiu once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pixiu")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const gatewayConfig = `
static_resources:
  listeners:
    - name: llm_proxy
      protocol_type: HTTP
      address: {socket_address: {address: 127.0.0.1, port: %d}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {prefix: /v1}
                    route: {cluster: chat}
              http_filters:
                - name: dgp.filter.llm.proxy
                  config: {timeout: 10s, scheme: http}
  clusters:
    - name: chat
      endpoints:
        - id: slow
          socket_address: {domains: ["%s"]}
  shutdown_config: {timeout: 10s}
`

func TestSIGTERMDrainsInFlightRequestAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	upstream := llmstub.Start(t, llmstub.WithDefault(llmstub.Delay(1500*time.Millisecond)))
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "pixiu.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(gatewayConfig, port, upstream.URL())), 0o600))

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "gateway", "start", "-c", cfg, "-l", "debug")
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/nothing")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound
	}, 10*time.Second, 20*time.Millisecond, "gateway did not start: %s", &stderr)

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	require.Eventually(t, func() bool { return upstream.Count() == 1 }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, upstream.Reply())

	select {
	case err := <-exited:
		assert.NoError(t, err, "exit status after SIGTERM; stderr:\n%s", &stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway did not exit after SIGTERM; stderr:\n%s", &stderr)
	}
	assert.Contains(t, stderr.String(), "shutting down")
	exited <- nil // for the cleanup
}

func TestBadConfigExitsNonZeroNamingFileLineAndKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "broken.yaml")
	bad := strings.Replace(fmt.Sprintf(gatewayConfig, 1, "http://127.0.0.1:1"), "- name: chat\n", "- name: chat\n      lb_policy: RingHashing\n      consistent: {replica_num: -1}\n", 1)
	require.NoError(t, os.WriteFile(cfg, []byte(bad), 0o600))

	out, err := exec.Command(bin, "gateway", "start", "-c", cfg).CombinedOutput()
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "want a non-zero exit, got %v", err)
	assert.NotZero(t, exitErr.ExitCode())
	assert.Contains(t, string(out), cfg+":21: static_resources.clusters[0].consistent")
	assert.Contains(t, string(out), `replica_num: -1 is not in 0..`)

	out, err = exec.Command(bin, "gateway", "start", "-c", filepath.Join(t.TempDir(), "missing.yaml")).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "missing.yaml")
}

// The sample configs in configs/ load and build (every plugin applied) without unknown keys.
func TestSampleConfigsBuild(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// Consumer keys come from the environment (an unset one is a start-up error).
	t.Setenv("DEMO_APP_KEY", "sample-config-app-key-1f2e3d")
	t.Setenv("DEMO_TRIAL_KEY", "sample-config-trial-key-4c5b6a")
	for _, file := range files {
		if filepath.Base(file) == instanceExample {
			continue // an instance for `pixiu llm validate`, not a gateway config
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			doc, err := config.LoadFile(file)
			require.NoError(t, err)
			for _, w := range doc.Warnings {
				assert.NotContains(t, w.Msg, "unknown key", w.String())
			}
			var logs logcapture.Buffer
			g, err := server.New(doc, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			require.NoError(t, g.Shutdown(t.Context()))
			assert.NotContains(t, logs.String(), "unknown key")
		})
	}
}
