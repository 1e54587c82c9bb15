package proxy

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// A domain that carries a path (api.openai.com/v1) must give a valid URL.
func TestTargetOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    model.SocketAddress
		want    target
		wantErr string
	}{
		{"bare domain", model.SocketAddress{Domains: []string{"api.deepseek.com"}}, target{Scheme: "https", Host: "api.deepseek.com", Base: ""}, ""},
		{"domain with port", model.SocketAddress{Domains: []string{"llm.internal:8443"}}, target{Scheme: "https", Host: "llm.internal:8443", Base: ""}, ""},
		{"domain with base path", model.SocketAddress{Domains: []string{"api.openai.com/v1"}}, target{Scheme: "https", Host: "api.openai.com", Base: "/v1"}, ""},
		{"host:port/v1", model.SocketAddress{Domains: []string{"127.0.0.1:8080/v1"}}, target{Scheme: "https", Host: "127.0.0.1:8080", Base: "/v1"}, ""},
		{"own scheme wins", model.SocketAddress{Domains: []string{"http://127.0.0.1:8080/v1"}}, target{Scheme: "http", Host: "127.0.0.1:8080", Base: "/v1"}, ""},
		{"scheme is case-insensitive", model.SocketAddress{Domains: []string{"HTTPS://api.openai.com/v1/"}}, target{Scheme: "https", Host: "api.openai.com", Base: "/v1"}, ""},
		{"deep base path, trailing slash dropped", model.SocketAddress{Domains: []string{"dashscope.aliyuncs.com/compatible-mode/v1/"}}, target{Scheme: "https", Host: "dashscope.aliyuncs.com", Base: "/compatible-mode/v1"}, ""},
		{"first domain wins over address", model.SocketAddress{Domains: []string{"a.example", "b.example"}, Address: "10.0.0.1", Port: 80}, target{Scheme: "https", Host: "a.example", Base: ""}, ""},
		{"domain is trimmed", model.SocketAddress{Domains: []string{" a.example "}}, target{Scheme: "https", Host: "a.example", Base: ""}, ""},
		{"ipv6 domain", model.SocketAddress{Domains: []string{"[::1]:8080"}}, target{Scheme: "https", Host: "[::1]:8080", Base: ""}, ""},
		{"address and port", model.SocketAddress{Address: "10.0.0.7", Port: 8000}, target{Scheme: "https", Host: "10.0.0.7:8000", Base: ""}, ""},
		{"address, port 0 uses the scheme's", model.SocketAddress{Address: "llm.internal"}, target{Scheme: "https", Host: "llm.internal", Base: ""}, ""},
		{"ipv6 address and port", model.SocketAddress{Address: "::1", Port: 8000}, target{Scheme: "https", Host: "[::1]:8000", Base: ""}, ""},
		{"ipv6 address without port", model.SocketAddress{Address: "::1"}, target{Scheme: "https", Host: "[::1]", Base: ""}, ""},
		{"nothing", model.SocketAddress{}, target{}, "no domain and no address"},
		{"other scheme", model.SocketAddress{Domains: []string{"ftp://files.example"}}, target{}, `scheme "ftp" is not http or https`},
		{"no host", model.SocketAddress{Domains: []string{"https:///v1"}}, target{}, "no host"},
		{"query", model.SocketAddress{Domains: []string{"api.example/v1?x=1"}}, target{}, "must be host[:port][/path]"},
		{"space", model.SocketAddress{Domains: []string{"api example"}}, target{}, "must be host[:port][/path]"},
		{"bad port", model.SocketAddress{Domains: []string{"api.example:99999"}}, target{}, `invalid port "99999"`},
		{"empty port host", model.SocketAddress{Domains: []string{":8080"}}, target{}, "no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.addr.Target("https")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			u := upstreamURL(got, &url.URL{Path: "/v1/chat/completions"})
			_, err = url.Parse(u.String())
			assert.NoError(t, err, "URL %s", u)
		})
	}
}

func TestTargetOfNeverEchoesCredentials(t *testing.T) {
	_, err := (&model.SocketAddress{Domains: []string{"https://user:s3cret@api.example/v1"}}).Target("https")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Contains(t, err.Error(), "llm_meta.api_key")
}

func TestUpstreamURL(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target target
		in     string
		want   string
	}{
		{"no base", target{Scheme: "https", Host: "api.deepseek.com", Base: ""}, "/v1/chat/completions", "https://api.deepseek.com/v1/chat/completions"},
		{"query kept", target{Scheme: "https", Host: "h", Base: ""}, "/v1/models?limit=2&after=x", "https://h/v1/models?limit=2&after=x"},
		{"base equal to path prefix is not repeated", target{Scheme: "https", Host: "api.openai.com", Base: "/v1"}, "/v1/chat/completions", "https://api.openai.com/v1/chat/completions"},
		{"base ending in the path prefix", target{Scheme: "https", Host: "dashscope.aliyuncs.com", Base: "/compatible-mode/v1"}, "/v1/chat/completions", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"},
		{"unrelated base is a prefix", target{Scheme: "http", Host: "h:1", Base: "/openai"}, "/v1/chat/completions", "http://h:1/openai/v1/chat/completions"},
		{"base as a base URL for clients that omit /v1", target{Scheme: "https", Host: "gl.example", Base: "/v1beta/openai"}, "/chat/completions", "https://gl.example/v1beta/openai/chat/completions"},
		{"only whole segments overlap", target{Scheme: "https", Host: "h", Base: "/v1"}, "/v10/x", "https://h/v1/v10/x"},
		{"path equals base", target{Scheme: "https", Host: "h", Base: "/v1"}, "/v1", "https://h/v1"},
		{"root path", target{Scheme: "https", Host: "h", Base: "/v1"}, "/", "https://h/v1/"},
		{"escaped path keeps its escapes", target{Scheme: "https", Host: "h", Base: "/v1"}, "/v1/files/a%2Fb", "https://h/v1/files/a%2Fb"},
		{"escaped path without base", target{Scheme: "https", Host: "h", Base: ""}, "/v1/files/a%2Fb?q=1", "https://h/v1/files/a%2Fb?q=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := url.ParseRequestURI(tc.in)
			require.NoError(t, err)
			got := upstreamURL(tc.target, in)
			assert.Equal(t, tc.want, got.String())
		})
	}
}

func TestJoinBasePath(t *testing.T) {
	for _, tc := range []struct{ base, path, want string }{
		{"/v1", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1", "/chat/completions", "/v1/chat/completions"},
		{"/a/v1", "/v1/x", "/a/v1/x"},
		{"/a/b", "/a/b/c", "/a/b/c"},
		{"/a/b", "/b/c", "/a/b/c"},
		{"/v1", "", "/v1"},
		{"/v1", "x", "/v1/x"},
		{"/v1", "/v1x", "/v1/v1x"},
	} {
		assert.Equal(t, tc.want, joinBasePath(tc.base, tc.path), "%s + %s", tc.base, tc.path)
	}
}

func TestTargetOfDomainDoesNotAllocate(t *testing.T) {
	addr := &model.SocketAddress{Domains: []string{"http://127.0.0.1:8080/v1"}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := addr.Target("https"); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// BenchmarkTargetOf shows that deriving the target on every attempt, instead of caching it per
// member, costs next to nothing.
func BenchmarkTargetOf(b *testing.B) {
	in := &url.URL{Path: "/v1/chat/completions"}
	for _, tc := range []struct {
		name string
		addr model.SocketAddress
	}{
		{"domain", model.SocketAddress{Domains: []string{"api.deepseek.com"}}},
		{"domain with scheme and base path", model.SocketAddress{Domains: []string{"https://api.openai.com/v1"}}},
		{"address and port", model.SocketAddress{Address: "10.0.0.7", Port: 8000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := tc.addr.Target("https")
				if err != nil {
					b.Fatal(err)
				}
				_ = upstreamURL(t, in)
			}
		})
	}
}
