package llmprovider

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

func TestParseFileInstanceForm(t *testing.T) {
	in, known, err := ParseFile([]byte(`
service: llm-deepseek
group: llm
ip: 10.0.0.12
port: 8080
weight: 2.5
metadata:
  cluster: chat
  id: deepseek-primary
  port: 9090
  llm-meta.fallback: true
  llm-meta.retry_policy.name: CountBased
  llm-meta.retry_policy.config: {times: 2}
  llm-meta.api_keys: [k1, k2]
`))
	require.NoError(t, err)
	assert.True(t, known)
	assert.Equal(t, Instance{
		Service: "llm-deepseek", Group: "llm", IP: "10.0.0.12", Port: 8080, Weight: 2.5,
		Metadata: map[string]string{
			"cluster": "chat", "id": "deepseek-primary", "port": "9090", "llm-meta.fallback": "true",
			"llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{"times":2}`,
			"llm-meta.api_keys": `["k1","k2"]`,
		},
	}, in)
}

func TestParseFileBareMetadataJSON(t *testing.T) {
	in, known, err := ParseFile([]byte(`{"cluster": "chat", "id": "a", "llm-meta.retry_policy.config": "{\"times\": 1}"}`))
	require.NoError(t, err)
	assert.False(t, known)
	assert.Equal(t, "llm-service", in.Service)
	assert.Equal(t, 1.0, in.Weight)
	assert.Equal(t, map[string]string{"cluster": "chat", "id": "a", "llm-meta.retry_policy.config": `{"times": 1}`}, in.Metadata)
}

func TestParseFileErrorsNameTheProblem(t *testing.T) {
	tests := []struct{ file, want string }{
		{"", "empty"},
		{"- a\n- b\n", "mapping"},
		{"metadata: {cluster: chat}\nhost: 10.0.0.1\n", `unknown key "host"`},
		{"metadata: [a]\n", "metadata: want a mapping"},
		{"port: 0\nmetadata: {cluster: chat}\n", "port"},
		{"weight: -1\nmetadata: {cluster: chat}\n", "weight"},
		{"cluster: a\ncluster: b\n", "twice"},
		{"cluster: [a\n", "not YAML or JSON"},
	}
	for _, tt := range tests {
		_, _, err := ParseFile([]byte(tt.file))
		require.Error(t, err, tt.file)
		assert.Contains(t, err.Error(), tt.want, tt.file)
	}
}

func TestCheckFileSpellsOutAnUnknownInstanceAddress(t *testing.T) {
	s, err := CheckFile([]byte("cluster: chat\n"))
	require.NoError(t, err)
	assert.Equal(t, "<instance ip>:<instance port>", s.Target)
	assert.Equal(t, "llm-service@<instance ip>:<instance port>", s.ID)

	s, err = CheckFile([]byte("cluster: chat\nid: a\nip: 10.1.2.3\n"))
	require.NoError(t, err)
	assert.Equal(t, "10.1.2.3:<instance port>", s.Target, "metadata ip with the instance's own port")

	s, err = CheckFile([]byte("cluster: chat\nid: a\naddress: api.openai.com/v1\n"))
	require.NoError(t, err)
	assert.Equal(t, "api.openai.com/v1", s.Target)

	_, err = CheckFile([]byte("id: a\n"))
	var me *registry.MetadataError
	require.True(t, errors.As(err, &me))
	assert.Equal(t, "cluster", me.Key)
	assert.Equal(t, "<instance ip>:<instance port>", me.Instance)
}

func TestCheckFileNeverPrintsKeys(t *testing.T) {
	s, err := CheckFile([]byte("cluster: chat\nid: a\nllm-meta.api_key: " + testKey + "\n"))
	require.NoError(t, err)
	assert.Equal(t, 1, s.APIKeys)
	assert.NotContains(t, strings.Join(s.Lines(), "\n"), testKey)

	_, err = CheckFile([]byte("cluster: chat\nid: a\nllm-meta.api_keys: '[\"" + testKey + "\", 1]'\n"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), testKey)
}
