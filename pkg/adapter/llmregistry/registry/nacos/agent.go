package nacos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/common/http_agent"
)

// errClosed is what every request made after Stop fails with.
var errClosed = errors.New("nacos client stopped")

// httpAgent is the HTTP transport the SDK uses for every call. Unlike the SDK's default agent it
// has its own connection pool, encodes query parameters, and can be closed: Close cancels
// requests in flight and makes later ones (from SDK goroutines that cannot be stopped) fail at
// once without touching the network. Errors never contain the query string, which may carry an
// access token.
type httpAgent struct {
	ctx       context.Context
	cancel    context.CancelFunc
	transport *http.Transport
	client    *http.Client
}

var _ http_agent.IHttpAgent = (*httpAgent)(nil)

// newHTTPAgent returns an agent whose requests all end when parent ends or Close is called.
func newHTTPAgent(parent context.Context) *httpAgent {
	ctx, cancel := context.WithCancel(parent)
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &httpAgent{ctx: ctx, cancel: cancel, transport: transport, client: &http.Client{Transport: transport}}
}

// Close cancels requests in flight, closes idle connections and fails every later request.
func (a *httpAgent) Close() {
	a.cancel()
	a.transport.CloseIdleConnections()
}

func (a *httpAgent) Get(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodGet, path, header, timeoutMs, params)
}

func (a *httpAgent) Post(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodPost, path, header, timeoutMs, params)
}

func (a *httpAgent) Delete(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodDelete, path, header, timeoutMs, params)
}

func (a *httpAgent) Put(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodPut, path, header, timeoutMs, params)
}

// RequestOnlyResult is used by the SDK only to fetch a server list from an endpoint.
func (a *httpAgent) RequestOnlyResult(method, path string, header http.Header, timeoutMs uint64, params map[string]string) string {
	resp, err := a.Request(method, path, header, timeoutMs, params)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return ""
	}
	return string(b)
}

// Request sends one request bounded by timeoutMs (the registry's configured timeout). GET and
// DELETE carry params in the query, other methods as a form body, as the Nacos API expects.
func (a *httpAgent) Request(method, path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	if a.ctx.Err() != nil {
		return nil, errClosed
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	target, body := path, io.Reader(nil)
	switch method {
	case http.MethodGet, http.MethodDelete:
		if len(form) > 0 {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + form.Encode()
		}
	default:
		body = strings.NewReader(form.Encode())
	}

	ctx, cancel := a.ctx, context.CancelFunc(func() {})
	if timeoutMs > 0 {
		ctx, cancel = context.WithTimeout(a.ctx, time.Duration(timeoutMs)*time.Millisecond)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s %s: %w", method, redact(path), err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		cancel()
		if a.ctx.Err() != nil {
			return nil, errClosed
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", time.Duration(timeoutMs)*time.Millisecond)
		}
		return nil, fmt.Errorf("%s %s: %w", method, redact(path), err)
	}
	// The SDK reads and closes the body; the timeout's context lives until then.
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// redact keeps scheme, host and path of a URL: enough to know which call failed, and free of
// credentials and tokens.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
