package plugin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetLooksUpWhatWasRegistered(t *testing.T) {
	s := NewSet[int]("widget", false)
	s.Register("b.widget", 2)
	s.Register("a.widget", 1)

	v, ok := s.Lookup("a.widget")
	require.True(t, ok)
	assert.Equal(t, 1, v)
	_, ok = s.Lookup("A.widget")
	assert.False(t, ok, "names are case-sensitive unless asked otherwise")
	assert.Equal(t, []string{"a.widget", "b.widget"}, s.Names())
}

func TestSetUnknownNameErrorListsTheKnownOnes(t *testing.T) {
	s := NewSet[int]("widget", false)
	s.Register("a", 1)
	s.Register("b", 2)
	_, err := s.Get("c")
	require.Error(t, err)
	assert.Equal(t, `unknown widget "c" (known: a, b)`, err.Error())
}

func TestSetIgnoringCaseKeepsTheRegisteredSpelling(t *testing.T) {
	s := NewSet[int]("policy", true)
	s.Register("CountBased", 1)

	v, err := s.Get(" countbased ")
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.Equal(t, "CountBased", s.Spelling("COUNTBASED"))
	assert.Equal(t, "other", s.Spelling("other"))
	assert.Equal(t, []string{"CountBased"}, s.Names())
}

func TestSetRegisteringANameTwicePanics(t *testing.T) {
	s := NewSet[int]("policy", true)
	s.Register("CountBased", 1)
	assert.PanicsWithValue(t, `policy "countbased" registered twice`, func() { s.Register("countbased", 2) })
}
