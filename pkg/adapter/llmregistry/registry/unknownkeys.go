package registry

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/suggest"
)

// LLMMetaPrefix starts the metadata keys of the gateway's LLM settings.
const LLMMetaPrefix = "llm-meta."

// UnknownKey is a metadata key in the gateway's llm-meta.* namespace that the gateway does not
// read, such as a typo: the instance is still routed, without that setting.
type UnknownKey struct {
	Key string
	// Suggest is the known key it was probably meant to be, or "".
	Suggest string
}

func (u UnknownKey) String() string {
	s := fmt.Sprintf("metadata key %q is not a gateway setting and is ignored", u.Key)
	if u.Suggest != "" {
		s += fmt.Sprintf("; did you mean %q?", u.Suggest)
	}
	return s
}

// UnknownLLMMetaKeys returns, sorted, the llm-meta.* keys of meta that the gateway does not read.
// Other keys are free-form endpoint metadata and never reported.
func UnknownLLMMetaKeys(meta map[string]string) []UnknownKey {
	var known []string
	for k := range gatewayKeys {
		if strings.HasPrefix(k, LLMMetaPrefix) {
			known = append(known, k)
		}
	}
	sort.Strings(known)
	var out []UnknownKey
	for k := range meta {
		if !strings.HasPrefix(k, LLMMetaPrefix) || gatewayKeys[k] {
			continue
		}
		u := UnknownKey{Key: k}
		if s, ok := suggest.Closest(k, known); ok {
			u.Suggest = s
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
