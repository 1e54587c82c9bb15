package proxy

import (
	"net/url"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// target is where an endpoint's requests go; see model.SocketAddress.Target.
type target = model.Target

// upstreamURL builds the URL of one attempt: target scheme and host, then the base path joined
// with the request path, then the request query.
func upstreamURL(t target, in *url.URL) *url.URL {
	out := &url.URL{Scheme: t.Scheme, Host: t.Host, RawQuery: in.RawQuery}
	if t.Base == "" {
		out.Path, out.RawPath = in.Path, in.RawPath
		return out
	}
	if in.RawPath == "" {
		out.Path = joinBasePath(t.Base, in.Path)
		return out
	}
	// The request path holds escapes that matter (such as %2F): join the escaped forms.
	out.RawPath = joinBasePath(t.Base, in.RawPath)
	if p, err := url.PathUnescape(out.RawPath); err == nil {
		out.Path = p
	} else {
		out.Path, out.RawPath = joinBasePath(t.Base, in.Path), ""
	}
	return out
}

// joinBasePath puts base in front of path. When path already starts with a trailing part of
// base, whole segments only, that part is not repeated: base "/v1" and path
// "/v1/chat/completions" give "/v1/chat/completions" (a domain written as OpenAI's base URL,
// api.openai.com/v1), and base "/compatible-mode/v1" gives "/compatible-mode/v1/chat/completions".
func joinBasePath(base, path string) string {
	if path == "" {
		return base
	}
	if path[0] != '/' {
		path = "/" + path
	}
	for i := 0; i < len(base); i++ {
		if base[i] != '/' {
			continue
		}
		tail := base[i:]
		if strings.HasPrefix(path, tail) && (len(path) == len(tail) || path[len(tail)] == '/') {
			return base[:i] + path
		}
	}
	return base + path
}
