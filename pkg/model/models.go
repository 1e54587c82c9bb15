package model

import (
	"fmt"
	"strings"
	"unicode"
)

// CheckModelNames validates the model names of an endpoint (llm_meta.models, or the registry's
// llm-meta.models): each is non-empty, has no whitespace or control characters, and appears once.
func CheckModelNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if name == "" {
			return fmt.Errorf("model %d is empty", i+1)
		}
		if j := strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); j >= 0 {
			return fmt.Errorf("model %q contains whitespace or a control character", name)
		}
		if seen[name] {
			return fmt.Errorf("model %q is listed twice", name)
		}
		seen[name] = true
	}
	return nil
}
