package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const canary = "sk-canary-0123456789abcdef"

func TestIsSecretName(t *testing.T) {
	secret := []string{"api_key", "api_keys", "apiKey", "APIKey", "APIKeys", "llm-meta.api_key",
		"llm-meta.api_keys", "password", "Password", "registry_password", "secret", "client_secret",
		"token", "access_token", "Authorization", "accessKey", "secret_key", "private_key", "credentials"}
	for _, name := range secret {
		assert.True(t, IsSecretName(name), name)
	}
	plain := []string{"key", "keys", "max_tokens", "prompt_tokens", "cluster", "id", "name",
		"retry_policy", "monkey", "apis", "keyboard", "health_check_interval", "address", "reason"}
	for _, name := range plain {
		assert.False(t, IsSecretName(name), name)
	}
}

func TestText(t *testing.T) {
	assert.Equal(t, "key is "+Placeholder+" here", Text("key is my-secret-value here", "my-secret-value"))
	assert.Equal(t, "upstream said "+Placeholder, Text("upstream said "+canary))
	assert.Equal(t, "Authorization: "+Placeholder, Text("Authorization: Bearer abcdef123456"))
	assert.Equal(t, "task-force and risk-free stay", Text("task-force and risk-free stay"))
	assert.Equal(t, "nothing", Text("nothing", ""), "empty secrets are ignored")
	assert.Equal(t, "a primary task", Text("a primary task", "a", "task"), "too short to look for by value")
	assert.Equal(t, "GET /nacos/v1/ns/service/list?accessToken="+Placeholder+"&pageNo=1 failed",
		Text("GET /nacos/v1/ns/service/list?accessToken=eyJhbGciOi.x.y&pageNo=1 failed"))
	assert.Equal(t, "login username=nacos&password="+Placeholder, Text("login username=nacos&password=nacos"))
	assert.Equal(t, `{"api_key": "`+Placeholder+`", "max_tokens": 5}`, Text(`{"api_key": "abc", "max_tokens": 5}`))
	assert.Equal(t, "key: llm-meta.port", Text("key: llm-meta.port"), "a key name is not a secret")
}

func TestValue(t *testing.T) {
	in := map[string]any{
		"registries": map[string]any{
			"nacos": map[string]any{"address": "127.0.0.1:8848", "username": "nacos", "password": "hunter2"},
		},
		"api_keys":  []any{"k1", "k2"},
		"keys":      3,
		"note":      "contains " + canary,
		"count":     2.0,
		"api_key":   "",
		"instances": []any{map[string]any{"llm-meta.api_key": "plain-key", "key": "llm-meta.port", "reason": "bad port"}},
	}
	out := Value(in).(map[string]any)
	nacos := out["registries"].(map[string]any)["nacos"].(map[string]any)
	assert.Equal(t, Placeholder, nacos["password"])
	assert.Equal(t, "nacos", nacos["username"])
	assert.Equal(t, Placeholder, out["api_keys"])
	assert.Equal(t, 3, out["keys"])
	assert.Equal(t, "contains "+Placeholder, out["note"])
	assert.Equal(t, "", out["api_key"], "an empty secret stays visibly empty")
	inst := out["instances"].([]any)[0].(map[string]any)
	assert.Equal(t, Placeholder, inst["llm-meta.api_key"])
	assert.Equal(t, "llm-meta.port", inst["key"], "a field naming a metadata key is not a secret")
	assert.Equal(t, "hunter2", in["registries"].(map[string]any)["nacos"].(map[string]any)["password"], "input untouched")
}

func TestJSONHonoursTagsAndRedacts(t *testing.T) {
	type registry struct {
		Address  string `json:"address"`
		Password string `json:"password"`
		Hidden   string `json:"-"`
	}
	out := JSON(struct {
		Registries []registry `json:"registries"`
	}{[]registry{{Address: "secret-host:1", Password: "hunter2", Hidden: canary}}}, "secret-host:1")
	reg := out.(map[string]any)["registries"].([]any)[0].(map[string]any)
	assert.Equal(t, Placeholder, reg["password"])
	assert.Equal(t, Placeholder, reg["address"], "known secrets are scrubbed from any value")
	assert.NotContains(t, reg, "Hidden")
	assert.Equal(t, Placeholder, JSON(make(chan int)), "unencodable values are not printed")
}

type registryConfig struct {
	Address  string
	Password string
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	logger = logger.With("password", "hunter2", slog.Group("auth", "api_key", canary))
	logger.Debug("calling upstream with "+canary,
		"api_keys", []string{canary},
		"config", registryConfig{Address: "127.0.0.1:8848", Password: "hunter2"},
		"ptr", &registryConfig{Password: "hunter2"},
		"meta", map[string]string{"llm-meta.api_key": "plain-key-value", "cluster": "chat"},
		"error", errors.New("401 from upstream for key "+canary),
		"keys", 2,
		"header", "Authorization: Bearer abcdef123456",
	)
	out := buf.String()
	for _, leaked := range []string{canary, "hunter2", "plain-key-value", "abcdef123456"} {
		assert.NotContains(t, out, leaked)
	}
	assert.Contains(t, out, "keys=2")
	assert.Contains(t, out, "127.0.0.1:8848")
	assert.Contains(t, out, "chat")
	require.Contains(t, out, Placeholder)

	assert.Same(t, NewHandler(logger.Handler()), logger.Handler(), "wrapping twice is a no-op")
}
