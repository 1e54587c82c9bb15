package cmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnknownSubcommandFailsNamingTheClosestOne(t *testing.T) {
	for args, want := range map[[2]string]string{
		{"gateway", "strat"}:  `unknown command "strat" for "pixiu gateway"; did you mean "start"? (see 'pixiu gateway --help')`,
		{"llm", "valdate"}:    `unknown command "valdate" for "pixiu llm"; did you mean "validate"? (see 'pixiu llm --help')`,
		{"gatewya", ""}:       `unknown command "gatewya" for "pixiu"; did you mean "gateway"? (see 'pixiu --help')`,
		{"llm", "frobnicate"}: `unknown command "frobnicate" for "pixiu llm" (see 'pixiu llm --help')`,
	} {
		argv := args[:1]
		if args[1] != "" {
			argv = args[:]
		}
		_, err := runPixiu(t, "", argv...)
		assert.EqualError(t, err, want)
	}
	out, err := runPixiu(t, "", "gateway")
	require.NoError(t, err, "a group alone prints its help")
	assert.Contains(t, out, "start")
}

func TestValidateWarnsOnUnknownLLMMetaKeysWithTheClosestKnownOne(t *testing.T) {
	file := filepath.Join(t.TempDir(), "instance.yaml")
	require.NoError(t, os.WriteFile(file, []byte("cluster: chat\nid: a\naddress: https://api.example.com\nllm-meta.fallbak: \"true\"\n"), 0o600))
	out, err := runPixiu(t, "", "llm", "validate", file)
	require.NoError(t, err, "the instance is still accepted")
	assert.Contains(t, out, file+`: warning: metadata key "llm-meta.fallbak" is not a gateway setting and is ignored; did you mean "llm-meta.fallback"?`)
	assert.Contains(t, out, "accepted")
}

// register warns before contacting the registry (nothing listens on 127.0.0.1:1).
func TestRegisterWarnsOnUnknownLLMMetaKeysWithTheClosestKnownOne(t *testing.T) {
	out, err := runPixiu(t, "", "llm", "register", "--nacos", "127.0.0.1:1", "--timeout", "200ms", "--service", "llm-a",
		"--cluster", "chat", "--id", "a", "--ip", "127.0.0.1", "--port", "8080",
		"--metadata", "llm-meta.health_chek_interval=5000")
	require.Error(t, err, "the registry is unreachable")
	assert.Contains(t, out, `--metadata: warning: metadata key "llm-meta.health_chek_interval" is not a gateway setting and is ignored; did you mean "llm-meta.health_check_interval"?`)
}

func TestRegisterHelpExampleNamesTheGroupTheShippedConfigWatches(t *testing.T) {
	out, err := runPixiu(t, "", "llm", "register", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "--group llm-providers")
	shipped, err := os.ReadFile("../../configs/pixiu-registry.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(shipped), "group: llm-providers")
}
