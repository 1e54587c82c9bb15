// Package urlpath checks request paths before they are routed or forwarded, and matches route
// prefixes on whole segments, so that a path cannot climb out of the prefix it was routed by.
package urlpath

import (
	"errors"
	"strings"
)

var (
	// ErrDotSegment: the path holds a "." or ".." segment, raw or percent-encoded.
	ErrDotSegment = errors.New(`the path holds a "." or ".." segment (possibly percent-encoded); send it normalized`)
	// ErrBackslash: the path holds a backslash, raw or percent-encoded (%5C).
	ErrBackslash = errors.New(`the path holds a backslash (possibly percent-encoded as %5C), which some servers take for "/"`)
)

// maxDecodes bounds how many levels of percent-encoding Check looks through.
const maxDecodes = 3

// Check reports why a request path must not be routed, or nil. path is the decoded path
// (url.URL.Path), so an encoded slash (%2F) already splits segments there: "..%2F" and "%2e%2e"
// are caught as "..". Rejected:
//   - a "." or ".." segment, also with path parameters ("..;x", which some servers read as "..");
//   - a backslash, which Windows-style servers treat as a separator ("..\" would climb);
//   - the same hidden under further levels of percent-encoding ("%252e%252e"), since a server
//     behind the gateway may decode again. A literal "%" that starts no escape is left alone.
func Check(path string) error {
	for range maxDecodes {
		if err := checkDecoded(path); err != nil {
			return err
		}
		if strings.IndexByte(path, '%') < 0 {
			return nil
		}
		path = unescape(path)
	}
	return checkDecoded(path)
}

// unescape decodes the valid %XX escapes of s and keeps anything else as it is, as a lenient
// server would.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func checkDecoded(path string) error {
	if strings.IndexByte(path, '\\') >= 0 {
		return ErrBackslash
	}
	if strings.IndexByte(path, '.') < 0 {
		return nil
	}
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return ErrDotSegment
		}
	}
	return nil
}

// HasSegmentPrefix reports whether path starts with prefix on a segment boundary: prefix "/v1"
// (or "/v1/") matches "/v1" and "/v1/chat", not "/v1x". The prefixes "" and "/" match every path.
func HasSegmentPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}
