package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// isHopByHop reports whether a (canonical) header belongs to one connection only and must not
// be forwarded: RFC 9110 section 7.6.1, plus the Proxy-* family.
func isHopByHop(key string) bool {
	switch key {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(key, "Proxy-")
}

// forwardHeader copies src without hop-by-hop headers, and without the headers that src's
// Connection header names, into a new map with room for extra more keys. The values of all
// keys share one backing array: one map and one slice allocation per call.
func forwardHeader(src http.Header, extra int) http.Header {
	n := 0
	for _, vv := range src {
		n += len(vv)
	}
	values := make([]string, n)
	dst := make(http.Header, len(src)+extra)
	for k, vv := range src {
		if isHopByHop(k) {
			continue
		}
		c := copy(values, vv)
		dst[k] = values[:c:c]
		values = values[c:]
	}
	removeConnectionListed(dst, src["Connection"])
	return dst
}

// copyResponseHeader adds the upstream response's end-to-end headers to the client's header.
// The values are shared with src, which is owned by this response.
func copyResponseHeader(dst, src http.Header) {
	for k, vv := range src {
		if !isHopByHop(k) {
			dst[k] = vv
		}
	}
	removeConnectionListed(dst, src["Connection"])
}

func removeConnectionListed(h http.Header, connection []string) {
	for _, v := range connection {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
}
