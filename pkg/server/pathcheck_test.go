package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// prefixRouteConfig routes /v1 to the cluster chat of the one endpoint at addr.
func prefixRouteConfig(addr string) string {
	return gatewayconfig.OneRoute{
		Filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"})},
		Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("chat", "",
			gatewayconfig.DomainEndpoint("stub", addr, &model.LLMMeta{APIKey: "sk-provider-key-0001"}))},
	}.YAML()
}

// rawRequest sends target exactly as written (no client library tidies it) and returns the
// status and body.
func rawRequest(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n", target)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestTraversalProbesNeverReachTheProvider(t *testing.T) {
	stub := llmstub.Start(t)
	g := gatewaytest.Start(t, prefixRouteConfig(stub.Addr()))
	addr := strings.TrimPrefix(g.URL("llm"), "http://")

	for _, tc := range []struct {
		target string
		status int
		code   string
	}{
		{"/v1/../admin", http.StatusBadRequest, "invalid_path"},
		{"/v1/../../../admin/secrets", http.StatusBadRequest, "invalid_path"},
		{"/v1/./models", http.StatusBadRequest, "invalid_path"},
		{"/v1/%2e%2e/admin", http.StatusBadRequest, "invalid_path"},
		{"/v1/%2E%2e/admin", http.StatusBadRequest, "invalid_path"},
		{"/v1/..%2fadmin", http.StatusBadRequest, "invalid_path"},
		{"/v1/..%2Fadmin", http.StatusBadRequest, "invalid_path"},
		{"/v1/%252e%252e/admin", http.StatusBadRequest, "invalid_path"},
		{"/v1/..;/admin", http.StatusBadRequest, "invalid_path"},
		{"/v1/..%5cadmin", http.StatusBadRequest, "invalid_path"},
		{"/v1/..\\admin", http.StatusBadRequest, "invalid_path"},
		{"http://gateway/v1/../admin", http.StatusBadRequest, "invalid_path"},
		{"/v1x/chat/completions", http.StatusNotFound, "route_not_found"},
		{"/v1x", http.StatusNotFound, "route_not_found"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			status, body := rawRequest(t, addr, tc.target)
			assert.Equal(t, tc.status, status, body)
			assert.Contains(t, body, `"code":"`+tc.code+`"`)
			assert.Contains(t, body, `"type":"invalid_request_error"`)
		})
	}
	assert.Zero(t, stub.Count(), "no probe reached the provider: %v", stub.Requests())

	status, body := rawRequest(t, addr, "/v1/models")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 1, stub.Count(), "a clean path under the prefix is forwarded")
}
