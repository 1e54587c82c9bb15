package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
)

// A static endpoint written for upstream Pixiu (address and port, no scheme anywhere) is dialed
// over plain HTTP, as upstream's filter does by default.
func TestSchemeDefaultsToHTTPAsUpstream(t *testing.T) {
	stub := llmstub.Start(t)
	g := startGateway(t, gatewaySpec{
		filter:  map[string]any{"timeout": "5s"},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.Endpoint("local", stub.Addr(), nil)),
	})
	resp, err := client(t).Post(g.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, stub.Count())
}

// TLS spoken to a plain-HTTP endpoint fails with an error that says the scheme is likely wrong,
// whether the endpoint answers the TLS hello with HTTP or the filter's scheme is https.
func TestTLSToAPlainHTTPEndpointSaysTheSchemeIsLikelyWrong(t *testing.T) {
	stub := llmstub.Start(t)
	for name, spec := range map[string]gatewaySpec{
		"domain with https://": {filter: map[string]any{"timeout": "5s"}, cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("plain", "https://"+stub.Addr(), nil))},
		"filter scheme https":  {filter: map[string]any{"timeout": "5s", "scheme": "https"}, cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.Endpoint("plain", stub.Addr(), nil))},
	} {
		t.Run(name, func(t *testing.T) {
			g := startGateway(t, spec)
			resp, err := client(t).Post(g.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.Contains(t, string(body), "the scheme is likely wrong")
			assert.NotContains(t, string(body), stub.Addr(), "the error names the endpoint id, not its address")
		})
	}
}
