package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runPixiu runs the command line in-process and returns its output and error.
func runPixiu(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := NewRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// Nothing listens on 127.0.0.1:1, so any attempt to register would fail differently (and
// slowly); these errors must come from the checks made before the registry is contacted.
func TestRegisterRejectsBadInputBeforeContactingNacos(t *testing.T) {
	const key = "sk-cli-test-abcdef0123456789"
	t.Setenv("CLI_TEST_KEY", key)
	t.Setenv("CLI_EMPTY_KEY", "")
	base := []string{"llm", "register", "--nacos", "127.0.0.1:1", "--service", "llm-a", "--cluster", "chat",
		"--id", "a", "--ip", "127.0.0.1", "--port", "8080", "--api-key-env", "CLI_TEST_KEY"}
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"negative retry times", []string{"--retry-policy", "CountBased", "--retry-config", `{"times": -1}`},
			[]string{"not registered", `service "llm-a" instance 127.0.0.1:8080`, "llm-meta.retry_policy.config", "times"}},
		{"retry config not JSON", []string{"--retry-policy", "CountBased", "--retry-config", `{times: 2}`},
			[]string{"not registered", "llm-meta.retry_policy.config", "not valid JSON"}},
		{"unknown policy", []string{"--retry-policy", "Sometimes"},
			[]string{"not registered", "llm-meta.retry_policy.name", "Sometimes"}},
		{"bad domain", []string{"--address", "ftp://api.example.com"},
			[]string{"not registered", "address"}},
		{"bad extra metadata value", []string{"--metadata", "llm-meta.health_check_interval=-5"},
			[]string{"not registered", "llm-meta.health_check_interval"}},
		{"api key as a flag value", []string{"--metadata", "llm-meta.api_key=" + key},
			[]string{"--metadata llm-meta.api_key", "--api-key-env"}},
		{"metadata without =", []string{"--metadata", "region"},
			[]string{`--metadata "region"`, "key=value"}},
		{"metadata setting an owned key", []string{"--metadata", "cluster=other"},
			[]string{"cluster", "its own option"}},
		{"api key variable empty", []string{"--api-key-env", "CLI_EMPTY_KEY"},
			[]string{"--api-key-env CLI_EMPTY_KEY", "not set or empty"}},
		{"model listed twice", []string{"--models", "deepseek-chat,deepseek-chat"},
			[]string{"not registered", "llm-meta.models", `model "deepseek-chat" is listed twice`}},
		{"empty model name", []string{"--models", "deepseek-chat,,deepseek-reasoner"},
			[]string{"not registered", "llm-meta.models", "model 2 is empty"}},
		{"weight zero", []string{"--weight", "0"}, []string{"--weight"}},
		{"port out of range", []string{"--port", "70000"}, []string{"--port 70000"}},
		{"unknown transport", []string{"--transport", "udp"}, []string{`--transport "udp"`, "http", "grpc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			out, err := runPixiu(t, "", append(append([]string{}, base...), tt.args...)...)
			require.Error(t, err)
			for _, want := range tt.wants {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), key)
			assert.NotContains(t, out, key)
			assert.NotContains(t, out, "registered", "nothing may be registered")
			assert.Less(t, time.Since(began), 2*time.Second, "the check must not wait for the registry")
		})
	}
}

func TestRegisterRequiresItsFlags(t *testing.T) {
	t.Setenv("NACOS_ADDRESS", "")
	full := map[string]string{"--nacos": "127.0.0.1:1", "--service": "s", "--cluster": "c", "--id": "i"}
	for missing := range full {
		args := []string{"llm", "register", "--ip", "127.0.0.1", "--port", "80"}
		for flag, v := range full {
			if flag != missing {
				args = append(args, flag, v)
			}
		}
		_, err := runPixiu(t, "", args...)
		require.Error(t, err, missing)
		assert.Contains(t, err.Error(), missing)
	}
	_, err := runPixiu(t, "", "llm", "register", "--nacos", "127.0.0.1:1", "--service", "s", "--cluster", "c", "--id", "i")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--ip and --port are required unless --address")
}

func TestValidateAcceptedFilePrintsTheEndpointNotTheKey(t *testing.T) {
	const key = "sk-validate-test-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "deepseek.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
service: llm-deepseek
ip: 10.0.0.12
port: 8080
metadata:
  cluster: chat
  id: deepseek-primary
  address: https://api.deepseek.com
  llm-meta.fallback: true
  llm-meta.api_key: `+key+`
  llm-meta.retry_policy.name: ExponentialBackoff
  llm-meta.retry_policy.config: {times: 3, initialInterval: 200ms, maxInterval: 5s, multiplier: 2}
  llm-meta.models: deepseek-chat,deepseek-reasoner
`), 0o600))
	out, err := runPixiu(t, "", "llm", "validate", file)
	require.NoError(t, err)
	for _, want := range []string{
		"accepted", `service "llm-deepseek" instance 10.0.0.12:8080`, "cluster:   chat", "endpoint:  deepseek-primary",
		"upstream:  https://api.deepseek.com", "fallback:  true", "ExponentialBackoff", "4 attempts per request", "api keys:  1",
		"models:    deepseek-chat, deepseek-reasoner",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, key)
}

func TestValidateRejectionNamesTheKey(t *testing.T) {
	out, err := runPixiu(t, `{"cluster": "chat", "id": "a", "llm-meta.fallback": "maybe"}`, "llm", "validate", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stdin: rejected")
	assert.Contains(t, err.Error(), "llm-meta.fallback")
	assert.NotContains(t, out, "accepted")

	_, err = runPixiu(t, "", "llm", "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestValidateRejectionDoesNotEchoURLCredentials(t *testing.T) {
	for _, address := range []string{"https://bob:hunter2@api.example.com", "https://api.example.com/v1?key=hunter2"} {
		out, err := runPixiu(t, `{"cluster": "chat", "id": "a", "address": "`+address+`"}`, "llm", "validate", "-")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "address")
		assert.Contains(t, err.Error(), "api.example.com")
		assert.NotContains(t, err.Error()+out, "hunter2")
	}
}
