package gatewayconfig_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry" // the retry policies an endpoint may name
)

func TestOneRouteLoadsAsBuilt(t *testing.T) {
	ring := gatewayconfig.Cluster("chat", model.LoadBalancerRingHashing,
		gatewayconfig.Endpoint("a", "127.0.0.1:9001", &model.LLMMeta{Fallback: true}),
		gatewayconfig.DomainEndpoint("b", "upstream.example:9002", nil))
	ring.ConsistentHash.Header = "x-session-id"
	text := gatewayconfig.OneRoute{
		Filters: []*model.HTTPFilter{
			gatewayconfig.Proxy(map[string]any{"timeout": "2s"}),
			gatewayconfig.Filter("dgp.filter.llm.tokenizer", struct {
				LogToConsole bool `yaml:"log_to_console"`
			}{true}),
		},
		Listener: model.HTTPListenerConfig{WriteTimeout: 300 * time.Millisecond},
		Clusters: []*model.ClusterConfig{ring},
		Shutdown: gatewayconfig.Shutdown(time.Second, 500*time.Millisecond),
		Metrics:  true,
	}.YAML()

	doc, err := config.Load("built.yaml", []byte(text))
	require.NoError(t, err, text)
	assert.Empty(t, doc.Warnings)
	b := doc.Bootstrap
	l := b.StaticResources.Listeners[0]
	assert.Equal(t, "llm", l.Name)
	assert.Equal(t, "127.0.0.1", l.Address.SocketAddress.Address)
	assert.Equal(t, 300*time.Millisecond, l.Config.WriteTimeout)
	assert.Equal(t, 60*time.Second, l.Config.ReadTimeout, "a zero field takes the gateway's default")
	hcm := l.FilterChain.Filters[0].Config
	assert.Contains(t, text, "prefix: /v1")
	assert.Contains(t, text, "cluster: chat")
	assert.Len(t, hcm["http_filters"], 2)
	c := b.StaticResources.Clusters[0]
	assert.Equal(t, "RingHashing", c.LbStr)
	assert.Equal(t, "x-session-id", c.ConsistentHash.Header)
	require.Len(t, c.Endpoints, 2)
	assert.True(t, c.Endpoints[0].LLMMeta.Fallback)
	assert.Equal(t, 9001, c.Endpoints[0].Address.Port)
	assert.Equal(t, []string{"upstream.example:9002"}, c.Endpoints[1].Address.Domains)
	assert.Equal(t, 500*time.Millisecond, b.StaticResources.ShutdownConfig.StepTimeout)
	assert.True(t, b.Metric.Enable)
}

func TestRegistryAdapterLoadsAsBuilt(t *testing.T) {
	text := gatewayconfig.OneRoute{
		Adapters: []*model.Adapter{gatewayconfig.RegistryAdapter(registry.Config{
			Protocol: "nacos", Address: "127.0.0.1:8848", Group: "g", RefreshInterval: 500 * time.Millisecond})},
	}.YAML()
	doc, err := config.Load("built.yaml", []byte(text))
	require.NoError(t, err, text)
	a := doc.Bootstrap.StaticResources.Adapters[0]
	assert.Equal(t, "llm-registry", a.ID)
	assert.Equal(t, "dgp.adapter.llmregistrycenter", a.Name)
	assert.Equal(t, map[string]any{"nacos": map[string]any{
		"protocol": "nacos", "address": "127.0.0.1:8848", "group": "g", "refresh_interval": "500ms",
	}}, a.Config["registries"])
}

func TestRoutesReplaceTheDefaultRoute(t *testing.T) {
	text := gatewayconfig.OneRoute{
		Routes:   []*model.Router{gatewayconfig.Route("/static", "static"), gatewayconfig.Route("/", "discovered")},
		Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("static", "", gatewayconfig.Endpoint("s", "127.0.0.1:9001", nil))},
		Adapters: []*model.Adapter{gatewayconfig.RegistryAdapter(registry.Config{Protocol: "nacos", Address: "127.0.0.1:8848"})},
	}.YAML()
	doc, err := config.Load("built.yaml", []byte(text))
	require.NoError(t, err, text)
	hcm := doc.Bootstrap.StaticResources.Listeners[0].FilterChain.Filters[0].Config
	routes := hcm["route_config"].(map[string]any)["routes"].([]any)
	require.Len(t, routes, 2, text)
	assert.Equal(t, map[string]any{"prefix": "/static"}, routes[0].(map[string]any)["match"])
	assert.Equal(t, map[string]any{"cluster": "discovered"}, routes[1].(map[string]any)["route"])
	assert.NotContains(t, text, "cluster: chat", "the default route is gone")
}
