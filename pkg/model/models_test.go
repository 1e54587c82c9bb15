package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckModelNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		err   string
	}{
		{names: nil},
		{names: []string{"deepseek-chat", "deepseek-reasoner"}},
		{names: []string{"meta-llama/Llama-3.1-8B-Instruct", "ft:gpt-4o-mini:org:custom:id"}},
		{names: []string{"a", ""}, err: "model 2 is empty"},
		{names: []string{"gpt 4"}, err: `model "gpt 4" contains whitespace`},
		{names: []string{"gpt\x00"}, err: "control character"},
		{names: []string{"a", "b", "a"}, err: `model "a" is listed twice`},
	} {
		err := CheckModelNames(tc.names)
		if tc.err == "" {
			assert.NoError(t, err, "%q", tc.names)
			continue
		}
		assert.ErrorContains(t, err, tc.err, "%q", tc.names)
	}
}

func TestCloneCopiesModels(t *testing.T) {
	ep := &Endpoint{ID: "a", LLMMeta: &LLMMeta{Models: []string{"m1", "m2"}}}
	c := ep.Clone()
	c.LLMMeta.Models[0] = "changed"
	assert.Equal(t, "m1", ep.LLMMeta.Models[0])
	assert.Contains(t, ep.LLMMeta.String(), "models:m1,m2")
}
