package redact

import (
	"regexp"
	"strings"
)

// URL returns s, a URL or a string that holds URLs, with the credentials a URL can carry
// removed: the user info (user:password@) and the query (?key=...), which providers and
// registries use for tokens. Everything else (scheme, host, port, path) is kept, so a message
// still says which address was at fault. It never fails: text that is not a URL is left as is.
func URL(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "?") {
		return s
	}
	s = urlUserinfo.ReplaceAllString(s, "${1}"+Placeholder+"@")
	return urlQuery.ReplaceAllString(s, "${1}?"+Placeholder)
}

var (
	// urlUserinfo is the user info of a URL with a scheme (https://user:pw@host), or of an
	// address written without one (user:pw@host:port, //user@host).
	urlUserinfo = regexp.MustCompile(`((?:^|[\s"'(=,])(?:[A-Za-z][A-Za-z0-9+.\-]*://|//)?)[^\s"'/?#@]+@`)
	// urlQuery is the query of a URL with a scheme or of a host/path, up to the next space,
	// quote or fragment.
	urlQuery = regexp.MustCompile(`((?:[A-Za-z][A-Za-z0-9+.\-]*://|^|[\s"'(=,])[^\s"'?#]*)\?[^\s"'#]+`)
)
