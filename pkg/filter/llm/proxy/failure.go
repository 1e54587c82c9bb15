package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// failure is how an endpoint failed a request, in the words the client's error body uses.
type failure struct {
	endpoint string
	// kind is what went wrong, never an address, a DNS server or a key: "connection refused",
	// "status 503", ...
	kind     string
	attempts int
	// err is the transport's error, for the log only: it names addresses.
	err error
}

func (f failure) String() string {
	return fmt.Sprintf("%s: %s (%s)", f.endpoint, f.kind, plural(f.attempts, "attempt"))
}

// Kinds of transport failure, as clients read them.
const (
	kindRefused     = "connection refused"
	kindReset       = "connection reset"
	kindClosed      = "connection closed before a response"
	kindTimeout     = "timeout"
	kindTLS         = "TLS handshake failed"
	kindDNS         = "DNS lookup failed"
	kindUnreachable = "network unreachable"
	kindHeaderSize  = "response headers too large"
	kindOther       = "connection failed"
)

// transportKind classifies an error of the upstream transport. The error itself names
// addresses and resolvers, so only its kind goes to the client; the error is logged.
func transportKind(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return kindDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return kindReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return kindUnreachable
	case isTLSError(err):
		return kindTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindClosed
	case strings.Contains(err.Error(), "response headers exceeded"):
		// net/http reports MaxResponseHeaderBytes only as text.
		return kindHeaderSize
	}
	return kindOther
}

func isTLSError(err error) bool {
	var record tls.RecordHeaderError
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &record) || errors.As(err, &alert) || errors.As(err, &verify) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

func statusKind(code int) string { return "status " + strconv.Itoa(code) }
