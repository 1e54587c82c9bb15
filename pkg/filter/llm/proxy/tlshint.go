package proxy

import (
	"crypto/tls"
	"errors"
	"io"

	"github.com/pixiu-llm/gateway/pkg/cluster"
)

// withSchemeHint adds to the kind of a failed attempt a hint when the failure is what TLS spoken
// to a plain-HTTP endpoint looks like: the endpoint answers the TLS hello with HTTP ("first
// record does not look like a TLS handshake") or just closes the connection (EOF).
func withSchemeHint(kind string, err error, m *cluster.Member, defaultScheme string) string {
	if m.Target.WithScheme(defaultScheme).Scheme != "https" {
		return kind
	}
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &record):
		return kind + " (the endpoint does not speak TLS: the scheme is likely wrong; use http:// in its address or the filter's scheme: http)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kind + " (if the endpoint serves plain HTTP, the scheme is likely wrong; use http:// in its address or the filter's scheme: http)"
	}
	return kind
}
