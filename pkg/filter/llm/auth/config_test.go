package auth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
)

const (
	keyA1 = "team-a-key-0000000001"
	keyA2 = "team-a-key-0000000002"
	keyB  = "team-b-key-0000000003"
)

func TestCompileFindsEveryKeyOfEveryConsumer(t *testing.T) {
	cfg := Config{Consumers: []ConsumerConfig{
		{Name: "team-a", Keys: []string{keyA1, keyA2}},
		{Name: "team-b", KeySHA256: []string{strings.ToUpper(DigestOf(keyB))}},
	}}
	ring, err := cfg.compile()
	require.NoError(t, err)

	for key, want := range map[string]string{keyA1: "team-a", keyA2: "team-a", keyB: "team-b"} {
		c := ring.lookup(key)
		require.NotNil(t, c, key)
		assert.Equal(t, want, c.Name)
	}
	for _, wrong := range []string{"", keyA1[:len(keyA1)-1], keyA1 + "x", strings.ToUpper(keyA1), DigestOf(keyB)} {
		assert.Nil(t, ring.lookup(wrong), "%q", wrong)
	}
	assert.Equal(t, 2, ring.lookup(keyA1).keys)
}

func TestCompileKeepsEachConsumersLimits(t *testing.T) {
	cfg := Config{Consumers: []ConsumerConfig{
		{Name: "team-a", Keys: []string{keyA1, keyA2}, Limits: limit.Limits{RequestsPerMinute: 60, TokensPerMinute: 100_000}},
		{Name: "team-b", Keys: []string{keyB}},
	}}
	ring, err := cfg.compile()
	require.NoError(t, err)
	assert.Equal(t, limit.Limits{RequestsPerMinute: 60, TokensPerMinute: 100_000}, ring.lookup(keyA2).Limits)
	assert.True(t, ring.lookup(keyB).Limits.None())
}

func TestCompileErrorsNameTheKeyPath(t *testing.T) {
	for _, tc := range []struct {
		name      string
		consumers []ConsumerConfig
		path, msg string
	}{
		{"no consumers", nil, "consumers", "no consumers"},
		{"empty name", []ConsumerConfig{{Name: " ", Keys: []string{keyA1}}}, "consumers[0].name", "empty consumer name"},
		{"duplicate name", []ConsumerConfig{{Name: "a", Keys: []string{keyA1}}, {Name: "a", Keys: []string{keyB}}},
			"consumers[1].name", `consumer "a" is already defined at consumers[0]`},
		{"no keys", []ConsumerConfig{{Name: "a"}}, "consumers[0]", "has no keys"},
		{"empty key", []ConsumerConfig{{Name: "a", Keys: []string{keyA1, ""}}}, "consumers[0].keys[1]", "empty key"},
		{"padded key", []ConsumerConfig{{Name: "a", Keys: []string{keyA1 + " "}}}, "consumers[0].keys[0]", "white space"},
		{"duplicate key across consumers", []ConsumerConfig{{Name: "a", Keys: []string{keyA1}}, {Name: "b", Keys: []string{keyB, keyA1}}},
			"consumers[1].keys[1]", "the same key as consumers[0].keys[0]"},
		{"duplicate key as digest", []ConsumerConfig{{Name: "a", Keys: []string{keyA1}}, {Name: "b", KeySHA256: []string{DigestOf(keyA1)}}},
			"consumers[1].key_sha256[0]", "the same key as consumers[0].keys[0]"},
		{"digest not hex", []ConsumerConfig{{Name: "a", KeySHA256: []string{strings.Repeat("g", 64)}}}, "consumers[0].key_sha256[0]", "not hex"},
		{"digest too short", []ConsumerConfig{{Name: "a", KeySHA256: []string{"abc123"}}}, "consumers[0].key_sha256[0]", "64 hex digits, not 6"},
		{"empty digest", []ConsumerConfig{{Name: "a", KeySHA256: []string{""}}}, "consumers[0].key_sha256[0]", "empty digest"},
		{"negative tokens limit", []ConsumerConfig{{Name: "a", Keys: []string{keyA1}}, {Name: "b", Keys: []string{keyB}, Limits: limit.Limits{TokensPerMinute: -1}}},
			"consumers[1].limits.tokens_per_minute", "-1 is negative"},
		{"negative requests limit", []ConsumerConfig{{Name: "a", Keys: []string{keyA1}, Limits: limit.Limits{RequestsPerMinute: -60, TokensPerMinute: 10}}},
			"consumers[0].limits.requests_per_minute", "-60 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Config{Consumers: tc.consumers}).compile()
			var fe *config.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.path, fe.Path)
			assert.Contains(t, fe.Err.Error(), tc.msg)
			for _, key := range []string{keyA1, keyB} {
				assert.NotContains(t, err.Error(), key, "a config error never quotes a key")
			}
		})
	}
}

func TestPresentedKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		key    string
		ok     bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + keyA1}}, keyA1, true},
		{"bearer any case", http.Header{"Authorization": {"bearer  " + keyA1}}, keyA1, true},
		{"x-api-key", http.Header{"X-Api-Key": {keyA1}}, keyA1, true},
		{"bearer wins over x-api-key", http.Header{"Authorization": {"Bearer " + keyA1}, "X-Api-Key": {keyB}}, keyA1, true},
		{"basic is not a key, x-api-key is", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}, "X-Api-Key": {keyB}}, keyB, true},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, "", false},
		{"basic only", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, "", false},
		{"none", http.Header{}, "", false},
	} {
		key, ok := presentedKey(tc.header)
		assert.Equal(t, tc.key, key, tc.name)
		assert.Equal(t, tc.ok, ok, tc.name)
	}
}
