package llmprovider

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

const testKey = "sk-provider-test-9f8e7d6c5b4a"

func TestSpecMetadataUsesTheRegistryKeys(t *testing.T) {
	meta, err := Spec{
		Cluster: "chat", ID: "deepseek-primary", Name: "DeepSeek primary",
		IP: "10.0.0.12", Port: 8080, Address: []string{"https://api.deepseek.com", "backup.example.com"},
		APIKey: testKey, RetryPolicy: "ExponentialBackoff",
		RetryConfig: `{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2}`,
		Fallback:    true, Models: []string{"deepseek-chat", "deepseek-reasoner"}, Extra: map[string]string{"region": "eu"},
	}.Metadata()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"llm-meta.models":              "deepseek-chat,deepseek-reasoner",
		"cluster":                      "chat",
		"id":                           "deepseek-primary",
		"name":                         "DeepSeek primary",
		"ip":                           "10.0.0.12",
		"port":                         "8080",
		"address":                      "https://api.deepseek.com,backup.example.com",
		"llm-meta.fallback":            "true",
		"llm-meta.api_key":             testKey,
		"llm-meta.retry_policy.name":   "ExponentialBackoff",
		"llm-meta.retry_policy.config": `{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2}`,
		"region":                       "eu",
	}, meta)
}

func TestSpecMetadataLeavesUnsetKeysOut(t *testing.T) {
	meta, err := Spec{Cluster: "chat", ID: "a"}.Metadata()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cluster": "chat", "id": "a", "llm-meta.fallback": "false"}, meta)
}

func TestSpecExtraCannotSetOwnedKeys(t *testing.T) {
	for _, key := range []string{"cluster", "port", "llm-meta.api_key", "llm-meta.api_keys", "llm-meta.retry_policy.name", "llm-meta.models"} {
		_, err := Spec{Cluster: "chat", ID: "a", Extra: map[string]string{key: "x"}}.Metadata()
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), key)
	}
}

func instanceWith(meta map[string]string) Instance {
	return Instance{Service: "llm-alpha", IP: "10.0.0.12", Port: 8080, Weight: 1, Metadata: meta}
}

func TestCheckRejectsBadMetadataNamingTheKey(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"cluster": "chat", "id": "alpha"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		meta map[string]string
		key  string
	}{
		{"no cluster", map[string]string{"id": "alpha"}, "cluster"},
		{"port out of range", base("port", "99999"), "port"},
		{"port not a number", base("port", "http"), "port"},
		{"bad ip", base("ip", "not an ip!"), "ip"},
		{"bad domain scheme", base("address", "ftp://api.example.com"), "address"},
		{"fallback not a boolean", base("llm-meta.fallback", "yes please"), "llm-meta.fallback"},
		{"unknown policy", base("llm-meta.retry_policy.name", "Forever"), "llm-meta.retry_policy.name"},
		{"config not JSON", base("llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", "{times: 2"), "llm-meta.retry_policy.config"},
		{"negative times", base("llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times": -1}`), "llm-meta.retry_policy.config"},
		{"fractional times", base("llm-meta.retry_policy.name", "CountBased", "llm-meta.retry_policy.config", `{"times": 1.5}`), "llm-meta.retry_policy.config"},
		{"bad duration", base("llm-meta.retry_policy.name", "ExponentialBackoff", "llm-meta.retry_policy.config", `{"times": 2, "initialInterval": "soon"}`), "llm-meta.retry_policy.config"},
		{"api_keys not an array of strings", base("llm-meta.api_keys", `["`+testKey+`", 7]`), "llm-meta.api_keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(instanceWith(tt.meta))
			require.Error(t, err)
			var me *registry.MetadataError
			require.True(t, errors.As(err, &me), "want a *registry.MetadataError, got %T: %v", err, err)
			assert.Equal(t, tt.key, me.Key)
			assert.Equal(t, "llm-alpha", me.Service)
			assert.Equal(t, "10.0.0.12:8080", me.Instance)
			assert.Contains(t, err.Error(), tt.key)
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestCheckSummarizesWithoutKeys(t *testing.T) {
	meta, err := Spec{
		Cluster: "chat", ID: "deepseek-primary", Name: "DeepSeek primary", Address: []string{"https://api.deepseek.com/v1"},
		APIKey: testKey, RetryPolicy: "countbased", RetryConfig: `{"times": "2"}`, Fallback: true,
		Models: []string{"deepseek-chat", "deepseek-reasoner"}, Extra: map[string]string{"region": "eu"},
	}.Metadata()
	require.NoError(t, err)
	// A second key under the alias some providers use (Spec owns the key, so set it directly).
	meta["llm-meta.api_keys"] = `["sk-second-key-000000000000"]`

	s, err := Check(Instance{Service: "llm-deepseek", IP: "10.0.0.12", Port: 443, Weight: 2, Metadata: meta})
	require.NoError(t, err)
	assert.Equal(t, "chat", s.Cluster)
	assert.Equal(t, "deepseek-primary", s.ID)
	assert.Equal(t, "https://api.deepseek.com/v1", s.Target)
	assert.True(t, s.TargetHasScheme)
	assert.True(t, s.Fallback)
	assert.Equal(t, "CountBased", s.RetryPolicy, "policy names are case-insensitive")
	assert.Equal(t, 3, s.Attempts)
	assert.Equal(t, 2, s.APIKeys)
	assert.Equal(t, 2.0, s.Weight)
	assert.True(t, s.Serving)
	assert.Equal(t, []string{"region"}, s.Extra)

	text := strings.Join(s.Lines(), "\n")
	assert.Contains(t, text, "api keys:  2")
	assert.Contains(t, text, "models:    deepseek-chat, deepseek-reasoner")
	assert.Contains(t, text, "CountBased")
	assert.NotContains(t, text, testKey)
	assert.NotContains(t, text, "sk-second-key")
}

func TestCheckDialsTheInstanceAddressByDefault(t *testing.T) {
	s, err := Check(instanceWith(map[string]string{"cluster": "chat"}))
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.12:8080", s.Target)
	assert.False(t, s.TargetHasScheme)
	assert.Equal(t, "llm-alpha@10.0.0.12:8080", s.ID, "a missing id is derived from the instance, stably")
	assert.Equal(t, "NoRetry", s.RetryPolicy)
	assert.Equal(t, 1, s.Attempts)
	assert.False(t, s.Fallback)
}

func TestCheckReportsWeightZeroAsNotServing(t *testing.T) {
	in := instanceWith(map[string]string{"cluster": "chat", "id": "a"})
	in.Weight = 0
	s, err := Check(in)
	require.NoError(t, err)
	assert.False(t, s.Serving)
	assert.Contains(t, strings.Join(s.Lines(), "\n"), "carries no traffic")
}
