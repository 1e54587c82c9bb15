package filter

import (
	"fmt"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/suggest"
)

// upstreamOnly are upstream Pixiu's AI filters this gateway does not implement, with what they
// do. A config naming one fails to start: running without a filter the config relies on would
// silently change what the gateway does.
var upstreamOnly = map[string]string{
	"dgp.filter.ai.kvcache": "KV-cache aware routing and cache management for vLLM and LMCache",
}

// unknownFilterError explains an http filter name no plugin registered: an upstream filter this
// gateway lacks, or a likely typo of a known one.
func unknownFilterError(kind string, known []string) error {
	list := strings.Join(known, ", ")
	if what, ok := upstreamOnly[kind]; ok {
		return fmt.Errorf("http filter %q is upstream Pixiu's (%s) and this gateway does not implement it; remove it from http_filters (known: %s)", kind, what, list)
	}
	if s, ok := suggest.Closest(kind, known); ok {
		return fmt.Errorf("unknown http filter %q; did you mean %q? (known: %s)", kind, s, list)
	}
	return fmt.Errorf("unknown http filter %q (known: %s)", kind, list)
}
