package urlpath

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckRejectsDotSegmentsInEveryEncoding(t *testing.T) {
	for _, tc := range []struct {
		raw  string // the request target as a client sends it
		want error
	}{
		{"/v1/chat/completions", nil},
		{"/v1/models/gpt-4.1", nil},
		{"/v1/files/a.b..c", nil},
		{"/v1/...", nil},
		{"/v1/models/org%2Fname", nil},
		{"/", nil},
		{"", nil},
		{"/v1/../admin", ErrDotSegment},
		{"/v1/./chat", ErrDotSegment},
		{"/v1/..", ErrDotSegment},
		{"/..", ErrDotSegment},
		{"/v1/%2e%2e/admin", ErrDotSegment},
		{"/v1/%2E%2E/admin", ErrDotSegment},
		{"/v1/.%2e/admin", ErrDotSegment},
		{"/v1/%2e/admin", ErrDotSegment},
		{"/v1/..%2fadmin", ErrDotSegment},
		{"/v1/..%2Fadmin", ErrDotSegment},
		{"/v1/x%2f..%2fadmin", ErrDotSegment},
		{"/v1/..;jsessionid=1/admin", ErrDotSegment},
		{"/v1/%252e%252e/admin", ErrDotSegment},
		{"/v1/%25252e%25252e/admin", ErrDotSegment},
		{"/v1/..%5cadmin", ErrBackslash},
		{"/v1/%5C", ErrBackslash},
		{"/v1/a%255cb", ErrBackslash},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			u, err := url.ParseRequestURI("http://h" + tc.raw)
			require.NoError(t, err)
			assert.Equal(t, tc.want, Check(u.Path))
		})
	}
}

func TestCheckLooksPastLiteralPercentSigns(t *testing.T) {
	// Decoded paths as url.URL.Path holds them: a literal "%" that starts no escape stays.
	assert.NoError(t, Check("/v1/files/100%"))
	assert.NoError(t, Check("/v1/files/%zz"))
	assert.Equal(t, ErrDotSegment, Check("/v1/%zz/%2e%2e/admin"), "a lenient decoder still finds the ..")
}

func TestHasSegmentPrefix(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"/v1", "/v1", true},
		{"/v1/chat/completions", "/v1", true},
		{"/v1/chat/completions", "/v1/", true},
		{"/v1", "/v1/", true},
		{"/v1x", "/v1", false},
		{"/v1x/chat", "/v1/", false},
		{"/v2/chat", "/v1", false},
		{"/anything", "/", true},
		{"/anything", "", true},
		{"/", "/", true},
		{"/v1/chat", "/v1/chat", true},
		{"/v1/chatx", "/v1/chat", false},
	} {
		assert.Equal(t, tc.want, HasSegmentPrefix(tc.path, tc.prefix), "%q under %q", tc.path, tc.prefix)
	}
}
