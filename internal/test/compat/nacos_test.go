package compat

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/internal/upstreamsamples"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// upstreamRegistrarMetadata is the metadata upstream's Nacos sample provider registers: one raw
// key in llm-meta.api_keys (not a JSON list), a string id, CountBased with its config as JSON,
// fallback as the string "false", and a name. address points at the stub instead of DeepSeek.
func upstreamRegistrarMetadata(address, key string) map[string]string {
	return map[string]string{
		"cluster":                      "chat",
		"id":                           "1",
		"address":                      address,
		"name":                         "deepseek-v2-chat-instance",
		"llm-meta.retry_policy.name":   "CountBased",
		"llm-meta.retry_policy.config": `{"times":3}`,
		"llm-meta.api_keys":            key,
		"llm-meta.fallback":            "false",
	}
}

// Upstream's Nacos sample, run against a real Nacos-protocol registry with only its listener
// and registry address changed, routes an instance registered the way upstream's sample
// registrar does, and the provider receives the instance's raw key.
func TestUpstreamNacosSampleRoutesAnInstanceRegisteredTheWayUpstreamsRegistrarDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the registry server")
	}
	path := upstreamsamples.Path(t, upstreamsamples.Nacos)
	addr := polaris.ForTest(t)
	const rawKey = "sk-upstream-registrar-raw-key-6b2d19"
	stub := llmstub.Start(t, llmstub.WithAPIKey(rawKey), llmstub.WithModel("deepseek-chat"))

	doc, err := config.LoadFile(path)
	require.NoError(t, err)
	onLoopback(doc)
	group := fmt.Sprintf("compat-%d", time.Now().UnixNano())
	nacos := doc.Bootstrap.StaticResources.Adapters[0].Config["registries"].(map[string]any)["nacos"].(map[string]any)
	nacos["address"], nacos["group"] = addr, group
	g := gatewaytest.StartDoc(t, doc)

	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: addr, Timeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	_, portStr, _ := net.SplitHostPort(stub.Addr())
	port, _ := strconv.ParseUint(portStr, 10, 16)
	// The sample routes /chat/completions, as DeepSeek serves it; the stub serves it under /v1.
	inst := llmprovider.Instance{Service: "deepseek-service", Group: group, IP: "127.0.0.1", Port: port, Weight: 10,
		Metadata: upstreamRegistrarMetadata(stub.URL()+"/v1", rawKey)}
	require.NoError(t, reg.Register(inst))
	t.Cleanup(func() { _ = reg.Deregister(inst) })

	client := openAIClient(t, g.URL("llm_proxy"))
	require.Eventually(t, func() bool {
		_, err := chat(t, client)
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "the registered instance was never routed")

	rec, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer "+rawKey, rec.Header.Get("Authorization"), "the provider receives the raw key")
	m := g.Clusters.Cluster("chat").Member("1")
	require.NotNil(t, m)
	assert.Equal(t, "deepseek-v2-chat-instance", m.Endpoint.Name)
	assert.False(t, m.Fallback())
	assert.Equal(t, "CountBased", m.Retry.Name())
	assert.Equal(t, 4, m.Retry.Attempts(), `{"times":3}`)
	assert.Contains(t, g.Logs.String(), `msg="llm usage" filter=dgp.filter.llm.tokenizer cluster=chat endpoint=1`)
	assert.NotContains(t, g.Logs.String(), rawKey)
}
