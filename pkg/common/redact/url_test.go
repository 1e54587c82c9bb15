package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestURLRemovesUserinfoAndQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pw@api.example.com/v1", "https://" + Placeholder + "@api.example.com/v1"},
		{"https://api.example.com/v1?key=abc&x=1", "https://api.example.com/v1?" + Placeholder},
		{"https://u:p@h:8443/v1?key=abc#frag", "https://" + Placeholder + "@h:8443/v1?" + Placeholder + "#frag"},
		{`"http://tok@10.0.0.1:80"`, `"http://` + Placeholder + `@10.0.0.1:80"`},
		{"user:pw@host:8080", Placeholder + "@host:8080"},
		{"host/v1?token=x", "host/v1?" + Placeholder},
		{"dial https://a:b@h failed", "dial https://" + Placeholder + "@h failed"},
		{"api.example.com:443/v1", "api.example.com:443/v1"},
		{"https://api.example.com", "https://api.example.com"},
		{"is it? yes", "is it? yes"},
		{"", ""},
	} {
		assert.Equal(t, tc.want, URL(tc.in), tc.in)
	}
}

func TestTextRedactsURLCredentials(t *testing.T) {
	assert.Equal(t, `Post "https://`+Placeholder+`@h/v1?`+Placeholder+`": EOF`,
		Text(`Post "https://bob:hunter2@h/v1?sig=abc": EOF`))
	assert.Equal(t, "mail bob@example.com", Text("mail bob@example.com"), "no URL, nothing to redact")
}
