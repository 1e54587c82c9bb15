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

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

const registryGatewayYAML = `
static_resources:
  listeners:
    - name: llm
      protocol_type: HTTP
      address: {socket_address: {address: 127.0.0.1, port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {prefix: /v1}
                    route: {cluster: %[3]s, cluster_not_found_response_code: 503}
              http_filters:
                - name: dgp.filter.llm.proxy
                  config: {timeout: 10s, scheme: http}
  adapters:
    - id: llm-registry
      name: dgp.adapter.llmregistrycenter
      config:
        registries:
          nacos:
            protocol: nacos
            address: "%[1]s"
            timeout: 5s
            group: %[2]s
            namespace: public
            refresh_interval: 1s
  shutdown_config: {timeout: 5s, step_timeout: 5s}
`

func startRegistryGateway(t *testing.T, nacosAddr, group, clusterName string) string {
	t.Helper()
	return gatewaytest.Start(t, fmt.Sprintf(registryGatewayYAML, nacosAddr, group, clusterName)).URL("llm")
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
