package gatewayproc

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/config"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// The generated pixiu.yaml must load without warnings and build a gateway, so that a config
// change in the gateway breaks this test rather than a benchmark run.
func TestGeneratedConfigLoadsAndBuilds(t *testing.T) {
	cfg := Config{
		Routes:   []Route{{Cluster: "bench"}, {Header: "X-Bench-Cluster", Value: "hot", Cluster: "hot"}},
		Clusters: []Cluster{{Name: "bench", Endpoints: []Endpoint{{ID: "stub", Address: "127.0.0.1", Port: 8000}}}},
		Registry: &Registry{Address: "127.0.0.1:1", Group: "g", Namespace: "public",
			Extra: map[string]any{"refresh_interval": "5s"}},
		AdminAddr:   "127.0.0.1:0",
		MetricsPort: 1,
		MaxConns:    64,
	}
	y, err := cfg.YAML()
	require.NoError(t, err)
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
	assert.True(t, b.Admin.Enable)
	assert.True(t, b.Metric.Enable)

	g, err := server.New(doc, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NotNil(t, g.Clusters.Cluster("bench"))
}

func TestFreeAddrIsLoopback(t *testing.T) {
	addr, err := FreeAddr()
	require.NoError(t, err)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, addr)
}
