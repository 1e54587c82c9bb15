package suggest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClosestFindsLikelyTypos(t *testing.T) {
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
		ok         bool
	}{
		{"filter_chain", []string{"name", "address", "filter_chains", "config"}, "filter_chains", true},
		{"strat", []string{"start"}, "start", true},
		{"llm-meta.fallbak", []string{"llm-meta.fallback", "llm-meta.api_key"}, "llm-meta.fallback", true},
		{"Metric", []string{"metric", "admin"}, "metric", true},
		{"ab", []string{"xy"}, "", false},
		{"timeout", []string{"cluster", "endpoints"}, "", false},
		{"start", []string{"start"}, "", false},
		{"anything", nil, "", false},
	} {
		got, ok := Closest(tc.word, tc.candidates)
		assert.Equal(t, tc.ok, ok, tc.word)
		assert.Equal(t, tc.want, got, tc.word)
	}
}
