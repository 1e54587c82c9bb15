package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	canaryKey      = "sk-canary-model-0123456789"
	canaryKey2     = "second-canary-key-value"
	canaryPassword = "canary-password-hunter2"
)

func secretEndpoint() *Endpoint {
	return &Endpoint{
		ID:      "primary",
		Name:    "Primary",
		Address: SocketAddress{Domains: []string{"api.example.com"}},
		Metadata: map[string]string{
			"llm-meta.api_key":  canaryKey,
			"llm-meta.api_keys": `["` + canaryKey2 + `"]`,
			"cluster":           "chat",
		},
		LLMMeta: &LLMMeta{
			Fallback:    true,
			APIKey:      canaryKey,
			APIKeys:     []string{canaryKey2},
			RetryPolicy: RetryPolicy{Name: "CountBased", Config: map[string]any{"times": 2}},
		},
	}
}

func secretAdapter() *Adapter {
	return &Adapter{ID: "llm-registry", Name: "dgp.adapter.llmregistrycenter", Config: map[string]any{
		"registries": map[string]any{"nacos": map[string]any{
			"address": "127.0.0.1:8848", "username": "nacos", "password": canaryPassword,
		}},
	}}
}

func assertNoSecret(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{canaryKey, canaryKey2, canaryPassword} {
		assert.NotContains(t, out, s)
	}
}

func TestPrintingHidesSecrets(t *testing.T) {
	ep, ad := secretEndpoint(), secretAdapter()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{ep, *ep, ep.LLMMeta, *ep.LLMMeta, ad, *ad} {
			out := fmt.Sprintf(verb, v)
			assertNoSecret(t, out)
		}
	}
	out := fmt.Sprintf("%+v", ep)
	assert.Contains(t, out, "keys:2")
	assert.Contains(t, out, "CountBased")
	assert.Contains(t, out, "cluster:chat")
	assert.Contains(t, fmt.Sprint(ad), "127.0.0.1:8848")
}

func TestLoggingHidesSecrets(t *testing.T) {
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		ep, ad := secretEndpoint(), secretAdapter()
		slog.New(h).Info("config", "endpoint", ep, "endpoint_value", *ep, "meta", ep.LLMMeta, "adapter", ad, "adapter_value", *ad)
	}
	assertNoSecret(t, buf.String())
	assert.Contains(t, buf.String(), "keys=2")
	assert.Contains(t, buf.String(), `"keys":2`)
	assert.Contains(t, buf.String(), "127.0.0.1:8848")
}

func TestJSONHidesKeys(t *testing.T) {
	b, err := json.Marshal(secretEndpoint().LLMMeta)
	assert.NoError(t, err)
	assertNoSecret(t, string(b))
}
