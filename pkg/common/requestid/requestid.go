// Package requestid gives every client request an id that the client, the provider and the
// access log all see, so that one failed request can be followed across the three.
package requestid

import (
	"net/http"

	"github.com/hashicorp/go-uuid"
)

// Header carries the id from the client (when it sent a usable one, that is the id) and on to
// the provider.
const Header = "X-Request-Id"

// ResponseHeader carries the id back to the client. It is not Header, because providers answer
// with an X-Request-Id of their own, which the client needs for the provider's support and which
// passes through untouched.
const ResponseHeader = "X-Pixiu-Request-Id"

// maxLen bounds an id taken from a client; it ends up in log lines.
const maxLen = 128

// Ensure returns the request's id, setting a new one on r's header when the client sent none or
// one that is unfit for a log line (too long, or not printable ASCII without spaces).
func Ensure(r *http.Request) string {
	if id := r.Header.Get(Header); usable(id) {
		return id
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		// crypto/rand failing is not a reason to refuse traffic; the request goes on without an id.
		r.Header.Del(Header)
		return ""
	}
	r.Header.Set(Header, id)
	return id
}

func usable(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
