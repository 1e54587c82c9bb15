package registry

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnknownLLMMetaKeysAreNamedWithTheClosestKnownKey(t *testing.T) {
	got := UnknownLLMMetaKeys(map[string]string{
		"cluster": "chat", "region": "eu", // free-form metadata is not reported
		"llm-meta.fallbak":  "true",
		"llm-meta.api_key":  "sk-x",
		"llm-meta.whatever": "1",
	})
	assert.Equal(t, []UnknownKey{
		{Key: "llm-meta.fallbak", Suggest: KeyFallback},
		{Key: "llm-meta.whatever"},
	}, got)
	assert.Equal(t, `metadata key "llm-meta.fallbak" is not a gateway setting and is ignored; did you mean "llm-meta.fallback"?`, got[0].String())
	assert.Equal(t, `metadata key "llm-meta.whatever" is not a gateway setting and is ignored`, got[1].String())
}
