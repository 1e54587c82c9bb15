package filter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnknownFilterErrorsNameTheFilter(t *testing.T) {
	known := []string{"dgp.filter.llm.proxy", "dgp.filter.llm.tokenizer"}
	assert.EqualError(t, unknownFilterError("dgp.filter.ai.kvcache", known),
		`http filter "dgp.filter.ai.kvcache" is upstream Pixiu's (KV-cache aware routing and cache management for vLLM and LMCache) and this gateway does not implement it; remove it from http_filters (known: dgp.filter.llm.proxy, dgp.filter.llm.tokenizer)`)
	assert.EqualError(t, unknownFilterError("dgp.filter.llm.proxi", known),
		`unknown http filter "dgp.filter.llm.proxi"; did you mean "dgp.filter.llm.proxy"? (known: dgp.filter.llm.proxy, dgp.filter.llm.tokenizer)`)
	assert.EqualError(t, unknownFilterError("dgp.filter.nope", known),
		`unknown http filter "dgp.filter.nope" (known: dgp.filter.llm.proxy, dgp.filter.llm.tokenizer)`)
}
