package model

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/redact"
)

// Target is where an endpoint's requests go: scheme, host[:port] and an optional base path
// (no trailing slash).
type Target struct {
	Scheme string
	Host   string
	Base   string
}

// WithScheme returns t with defaultScheme when t names no scheme of its own.
func (t Target) WithScheme(defaultScheme string) Target {
	if t.Scheme == "" {
		t.Scheme = defaultScheme
	}
	return t
}

// Target derives where requests to this address go. The first domain wins over address:port; a domain
// may be "host", "host:port", "host/base/path" or "scheme://host[:port][/base/path]". Without a
// scheme of its own the endpoint uses defaultScheme. It allocates nothing for domain endpoints.
func (addr *SocketAddress) Target(defaultScheme string) (Target, error) {
	if len(addr.Domains) == 0 {
		if addr.Address == "" {
			return Target{}, errors.New("no domain and no address")
		}
		host := addr.Address
		if addr.Port > 0 {
			host = net.JoinHostPort(addr.Address, strconv.Itoa(addr.Port))
		} else if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
			host = "[" + host + "]" // IPv6 literal without a port
		}
		return Target{Scheme: defaultScheme, Host: host}, nil
	}
	return parseDomain(strings.TrimSpace(addr.Domains[0]), defaultScheme)
}

func parseDomain(d, defaultScheme string) (Target, error) {
	t := Target{Scheme: defaultScheme}
	rest := d
	if i := strings.Index(d, "://"); i >= 0 {
		switch scheme := d[:i]; {
		case strings.EqualFold(scheme, "http"):
			t.Scheme = "http"
		case strings.EqualFold(scheme, "https"):
			t.Scheme = "https"
		default:
			return Target{}, domainError(d, "scheme %q is not http or https", scheme)
		}
		rest = d[i+3:]
	}
	t.Host = rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		t.Host, t.Base = rest[:i], strings.TrimRight(rest[i:], "/")
	}
	switch {
	case t.Host == "":
		return Target{}, domainError(d, "no host")
	case strings.ContainsAny(t.Host, "@"):
		return Target{}, domainError(d, "credentials in the address are not supported; use llm_meta.api_key")
	case strings.ContainsAny(d, " \t\r\n?#\\"):
		return Target{}, domainError(d, "must be host[:port][/path] with an optional http(s):// prefix")
	}
	if strings.IndexByte(t.Host, ':') < 0 {
		return t, nil
	}
	if h, port, err := net.SplitHostPort(t.Host); err == nil {
		if h == "" {
			return Target{}, domainError(d, "no host")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Target{}, domainError(d, "invalid port %q", port)
		}
	}
	return t, nil
}

// domainError describes a bad domain; the domain is quoted without the credentials a URL can
// carry (user info, query).
func domainError(d, format string, args ...any) error {
	return fmt.Errorf("domain %q: %s", redact.URL(d), fmt.Sprintf(format, args...))
}
