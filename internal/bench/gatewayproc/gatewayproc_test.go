package gatewayproc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// The generated pixiu.yaml must load without warnings and build a gateway, so that a config
// change in the gateway breaks this test rather than a benchmark run.
func TestGeneratedConfigLoadsAndBuilds(t *testing.T) {
	cfg := Config{
		Routes:   []Route{{Cluster: "bench"}, {Header: "X-Bench-Cluster", Value: "hot", Cluster: "hot"}},
		Clusters: []Cluster{{Name: "bench", Endpoints: []Endpoint{{ID: "stub", Address: "127.0.0.1", Port: 8000}}}},
		Registry: &registry.Config{Protocol: "nacos", Address: "127.0.0.1:1", Group: "g", Namespace: "public",
			RefreshInterval: 5 * time.Second, Transport: registry.TransportGRPC},
		AdminAddr:   "127.0.0.1:0",
		MetricsPort: 1,
		MaxConns:    64,
	}
	y := cfg.YAML()
	doc, err := config.Load("bench.yaml", y)
	require.NoError(t, err, "%s", y)
	for _, w := range doc.Warnings {
		// Routes to clusters that only the registry provides are expected to warn.
		assert.Contains(t, w.Msg, "not defined statically", "unexpected warning %v", w)
	}

	b := doc.Bootstrap
	require.Len(t, b.StaticResources.Listeners, 1)
	assert.Equal(t, "127.0.0.1", b.StaticResources.Listeners[0].Address.SocketAddress.Address)
	require.Len(t, b.StaticResources.Clusters, 1)
	assert.Equal(t, 8000, b.StaticResources.Clusters[0].Endpoints[0].Address.Port)
	require.Len(t, b.StaticResources.Adapters, 1)
	assert.Equal(t, AdapterID, b.StaticResources.Adapters[0].ID)
	entry := b.StaticResources.Adapters[0].Config["registries"].(map[string]any)["nacos"].(map[string]any)
	assert.Equal(t, "grpc", entry["transport"])
	assert.Equal(t, "5s", entry["refresh_interval"])
	assert.True(t, b.Admin.Enable)
	assert.True(t, b.Metric.Enable)

	g, err := server.New(doc, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NotNil(t, g.Clusters.Cluster("bench"))
}

// The variants' keys (auth with limits, model routing, tokenizer) load without warnings, in
// the chain's order, and build a gateway.
func TestGeneratedConfigWithFiltersAndModelRouting(t *testing.T) {
	cfg := Config{
		Routes: []Route{{ModelRouting: true}},
		Clusters: []Cluster{{Name: "bench", Endpoints: []Endpoint{
			{ID: "stub", Address: "127.0.0.1", Port: 8000, Models: []string{"stub-model"}}}}},
		Consumers: []Consumer{{Name: "bench", KeySHA256: strings.Repeat("ab", 32), RequestsPerMinute: 1 << 40}},
		Tokenizer: true,
	}
	y := cfg.YAML()
	doc, err := config.Load("bench.yaml", y)
	require.NoError(t, err, "%s", y)
	assert.Empty(t, doc.Warnings)

	var hcm model.HTTPConnectionManagerConfig
	_, err = config.Decode(doc.Bootstrap.StaticResources.Listeners[0].FilterChain.Filters[0].Config, &hcm, "hcm")
	require.NoError(t, err)
	var names []string
	for _, f := range hcm.HTTPFilters {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"dgp.filter.llm.auth", "dgp.filter.llm.proxy", "dgp.filter.llm.tokenizer"}, names)
	assert.True(t, hcm.RouteConfig.Routes[0].Route.ModelRouting)
	assert.Equal(t, []string{"stub-model"}, doc.Bootstrap.StaticResources.Clusters[0].Endpoints[0].LLMMeta.Models)

	var logs bytes.Buffer
	g, err := server.New(doc, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, g.Shutdown(t.Context()))
	assert.NotContains(t, logs.String(), "unknown key")
}

func TestFreeAddrIsLoopback(t *testing.T) {
	addr, err := FreeAddr()
	require.NoError(t, err)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, addr)
}
