package registry_test

import (
	"testing"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

func BenchmarkInstanceToEndpoint(b *testing.B) {
	in := instance(map[string]string{
		"cluster": "chat", "id": "ds-1", "address": "https://api.deepseek.com/v1", "llm-meta.fallback": "true",
		"llm-meta.api_keys": `["sk-a","sk-b"]`, "llm-meta.retry_policy.name": "ExponentialBackoff",
		"llm-meta.retry_policy.config": `{"times":3,"initialInterval":"200ms","maxInterval":"5s","multiplier":2}`,
		"internal-nacos-cluster":       "DEFAULT",
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := registry.InstanceToEndpoint(in); err != nil {
			b.Fatal(err)
		}
	}
}
