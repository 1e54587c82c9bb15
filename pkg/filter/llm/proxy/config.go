package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Config is the filter's config in pixiu.yaml (http_filters[].config). The first five keys are
// upstream Pixiu's; the rest are this gateway's own, with defaults that suit LLM traffic. A zero
// value takes the default.
type Config struct {
	// Timeout bounds one attempt up to the upstream's response headers (connect, TLS, sending the
	// request, waiting for the headers). It never bounds the body: streams run as long as the
	// upstream keeps them going.
	Timeout time.Duration `yaml:"timeout" default:"60s"`
	// Scheme is used for endpoints whose domain carries none: http (the default, as upstream
	// Pixiu's) or https.
	Scheme              string `yaml:"scheme" default:"http"`
	MaxIdleConns        int    `yaml:"maxIdleConns" default:"100"`
	MaxIdleConnsPerHost int    `yaml:"maxIdleConnsPerHost" default:"100"`
	// MaxConnsPerHost limits connections per upstream host; 0 means no limit.
	MaxConnsPerHost int `yaml:"maxConnsPerHost"`

	// MaxRequestBodyBytes is the largest request body accepted; larger ones get 413. The body is
	// held in memory so that it can be sent again on a retry.
	MaxRequestBodyBytes int64 `yaml:"maxRequestBodyBytes" default:"10485760"`
	// DialTimeout bounds a TCP connect to an upstream (Timeout bounds it too).
	DialTimeout time.Duration `yaml:"dialTimeout" default:"10s"`
	// IdleConnTimeout closes upstream connections idle this long.
	IdleConnTimeout time.Duration `yaml:"idleConnTimeout" default:"90s"`
	// MaxAttempts bounds the upstream attempts of one client request: every retry on every
	// endpoint and every fallback together. An endpoint's retries stop early to keep one attempt
	// for each endpoint the request may still fall back to.
	MaxAttempts int `yaml:"maxAttempts" default:"10"`
	// StreamIdleTimeout ends an answer whose upstream sent nothing for this long: an event
	// stream gets a last error event, then the client connection is closed.
	StreamIdleTimeout time.Duration `yaml:"streamIdleTimeout" default:"5m"`
	// ClientWriteTimeout bounds each write of the response to the client. Once an upstream
	// answers, it replaces the listener's write_timeout, which counts from the start of the
	// request and would otherwise cut off long streams and slow answers.
	ClientWriteTimeout time.Duration `yaml:"clientWriteTimeout" default:"30s"`
}

// validate checks the decoded config and normalizes the scheme; errors name the key.
func (c *Config) validate() error {
	c.Scheme = strings.ToLower(strings.TrimSpace(c.Scheme))
	if c.Scheme != "http" && c.Scheme != "https" {
		return fmt.Errorf("scheme: %q is not http or https", c.Scheme)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"timeout", c.Timeout}, {"dialTimeout", c.DialTimeout},
		{"idleConnTimeout", c.IdleConnTimeout}, {"clientWriteTimeout", c.ClientWriteTimeout},
		{"streamIdleTimeout", c.StreamIdleTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: negative duration %s", d.key, d.v)
		}
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"maxIdleConns", int64(c.MaxIdleConns)}, {"maxIdleConnsPerHost", int64(c.MaxIdleConnsPerHost)},
		{"maxConnsPerHost", int64(c.MaxConnsPerHost)}, {"maxRequestBodyBytes", c.MaxRequestBodyBytes},
		{"maxAttempts", int64(c.MaxAttempts)},
	} {
		if n.v < 0 {
			return fmt.Errorf("%s: negative value %d", n.key, n.v)
		}
	}
	return nil
}

// maxResponseHeaderBytes bounds the response headers of an upstream; more fails the attempt.
const maxResponseHeaderBytes = 256 << 10

// newTransport builds the filter's upstream transport. Responses pass through as the upstream
// sent them: no transparent gzip, so streams are not held back by a decompressor and usage can
// be read from the bytes that go by.
func newTransport(c *Config) *http.Transport {
	dialer := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          c.MaxIdleConns,
		MaxIdleConnsPerHost:   c.MaxIdleConnsPerHost,
		MaxConnsPerHost:       c.MaxConnsPerHost,
		IdleConnTimeout:       c.IdleConnTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// Every attempt holds its response headers in memory; a provider (or something posing
		// as one) cannot make that grow without bound.
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}
