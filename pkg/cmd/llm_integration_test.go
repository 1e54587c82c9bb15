package cmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

// startRegistryGateway starts a gateway whose /v1 route goes to clusterName, a cluster only the
// registry adapter (watching group at nacosAddr) fills.
func startRegistryGateway(t *testing.T, nacosAddr, group, clusterName string) string {
	t.Helper()
	cfg := gatewayconfig.OneRoute{
		Cluster: clusterName,
		Filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "10s", "scheme": "http"})},
		Adapters: []*model.Adapter{gatewayconfig.RegistryAdapter(registry.Config{Protocol: "nacos", Address: nacosAddr,
			Timeout: 5 * time.Second, Group: group, Namespace: "public", RefreshInterval: time.Second})},
	}
	return gatewaytest.Start(t, cfg.YAML()).URL("llm")
}

// chat sends one chat completion without any Authorization header and returns status and body.
func chat(t *testing.T, base string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestRegisteredInstanceIsRoutedByGateway runs `pixiu llm register` against the real
// Nacos-protocol registry and checks that a running gateway routes traffic to the registered
// provider with the API key from the metadata, and stops once the command deregisters.
func TestRegisteredInstanceIsRoutedByGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Polaris registry")
	}
	nacosAddr := polaris.ForTest(t)
	const key = "sk-register-test-0123456789"
	stub := llmstub.Start(t, llmstub.WithName("alpha"), llmstub.WithAPIKey(key))
	host, port, _ := strings.Cut(stub.Addr(), ":")
	group := fmt.Sprintf("register_test_%d", time.Now().UnixNano())
	base := startRegistryGateway(t, nacosAddr, group, "chat")

	t.Setenv("ALPHA_TEST_KEY", key)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &logcapture.Buffer{}
	root := NewRoot()
	root.SetArgs([]string{"llm", "register", "--nacos", nacosAddr, "--group", group,
		"--service", "llm-alpha", "--cluster", "chat", "--id", "alpha", "--name", "Alpha",
		"--ip", host, "--port", port, "--api-key-env", "ALPHA_TEST_KEY",
		"--retry-policy", "CountBased", "--retry-config", `{"times": 1}`, "--fallback"})
	root.SetOut(out)
	root.SetErr(out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	var status int
	var body string
	require.Eventually(t, func() bool {
		status, body = chat(t, base)
		return status == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "gateway never routed the registered instance; last answer %d %s\nregister output:\n%s", status, body, out)
	assert.Contains(t, body, "Hello from alpha")
	last, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer "+key, last.Header.Get("Authorization"), "the gateway sends the key from the instance metadata")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("register did not return after its context ended")
	}
	assert.Contains(t, out.String(), "registered llm-alpha "+stub.Addr())
	assert.Contains(t, out.String(), "deregistered llm-alpha "+stub.Addr())
	assert.NotContains(t, out.String(), key)

	require.Eventually(t, func() bool {
		status, body = chat(t, base)
		return status == http.StatusServiceUnavailable
	}, 30*time.Second, 200*time.Millisecond, "gateway kept routing the deregistered instance; last answer %d %s", status, body)
}
