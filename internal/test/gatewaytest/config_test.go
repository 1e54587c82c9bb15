package gatewaytest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/config"
)

func TestConfigRendersAConfigThatLoadsAsBuilt(t *testing.T) {
	text := Config{
		HTTPFilters: []Filter{ProxyFilter("{timeout: 2s}"), {Name: "dgp.filter.llm.tokenizer", Config: "{log_to_console: true}"}},
		Clusters: []Cluster{{Name: "chat", LbPolicy: "RingHashing", Consistent: "{header: x-session-id}",
			Endpoints: []string{Endpoint("a", "127.0.0.1:9001", "{fallback: true}"), Endpoint("b", "127.0.0.1:9002", "")}}},
		Metrics: true,
	}.YAML()
	doc, err := config.Load("built.yaml", []byte(text))
	require.NoError(t, err, text)
	assert.Empty(t, doc.Warnings)
	b := doc.Bootstrap
	assert.Equal(t, "127.0.0.1", b.StaticResources.Listeners[0].Address.SocketAddress.Address)
	c := b.StaticResources.Clusters[0]
	assert.Equal(t, "RingHashing", c.LbStr)
	assert.Equal(t, "x-session-id", c.ConsistentHash.Header)
	require.Len(t, c.Endpoints, 2)
	assert.True(t, c.Endpoints[0].LLMMeta.Fallback)
	assert.Equal(t, 9002, c.Endpoints[1].Address.Port)
	assert.True(t, b.Metric.Enable)
}

func TestConfigRoutesReplaceTheDefaultRoute(t *testing.T) {
	text := Config{Routes: []Route{
		{Match: "{prefix: /static}", Action: "{cluster: static}"},
		{Match: "{prefix: /, headers: [{name: X-Route, values: [ordered]}]}", Action: "{model_routing: true, clusters: [static]}"},
	}, Clusters: []Cluster{{Name: "static", Endpoints: []string{Endpoint("s", "127.0.0.1:9001", "")}}}}.YAML()
	doc, err := config.Load("built.yaml", []byte(text))
	require.NoError(t, err, text)
	hcm := doc.Bootstrap.StaticResources.Listeners[0].FilterChain.Filters[0].Config
	routes := hcm["route_config"].(map[string]any)["routes"].([]any)
	require.Len(t, routes, 2, "no default route besides them:\n%s", text)
	assert.Equal(t, map[string]any{"cluster": "static"}, routes[0].(map[string]any)["route"])
	assert.Equal(t, true, routes[1].(map[string]any)["route"].(map[string]any)["model_routing"])
}
