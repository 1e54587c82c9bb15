package gatewaytest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func TestConfigRendersAsTheTypedBuilder(t *testing.T) {
	wrapped := Config{
		HTTPFilters: []Filter{ProxyFilter("{timeout: 2s}"), {Name: "dgp.filter.llm.tokenizer", Config: "{log_to_console: true}"}},
		Clusters: []Cluster{{Name: "chat", LbPolicy: "RingHashing", Consistent: "{header: x-session-id}",
			Endpoints: []string{Endpoint("a", "127.0.0.1:9001", "{fallback: true}"), Endpoint("b", "127.0.0.1:9002", "")}}},
		Listener: "{write_timeout: 300ms}",
		Adapters: "    - {id: x, name: test.adapter, config: {cluster: chat}}\n",
		Shutdown: "{timeout: 1s, step_timeout: 1s}",
		Metrics:  true,
	}.YAML()

	ring := gatewayconfig.Cluster("chat", "RingHashing",
		gatewayconfig.Endpoint("a", "127.0.0.1:9001", &model.LLMMeta{Fallback: true}),
		gatewayconfig.Endpoint("b", "127.0.0.1:9002", nil))
	ring.ConsistentHash.Header = "x-session-id"
	typed := gatewayconfig.OneRoute{
		Filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "2s"}),
			gatewayconfig.Filter("dgp.filter.llm.tokenizer", map[string]any{"log_to_console": true})},
		Clusters: []*model.ClusterConfig{ring},
		Listener: model.HTTPListenerConfig{WriteTimeout: 300 * time.Millisecond},
		Adapters: []*model.Adapter{gatewayconfig.Adapter("x", "test.adapter", map[string]any{"cluster": "chat"})},
		Shutdown: gatewayconfig.Shutdown(time.Second, time.Second),
		Metrics:  true,
	}.YAML()
	assert.Equal(t, typed, wrapped)
}
