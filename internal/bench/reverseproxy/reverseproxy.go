// Package reverseproxy is the benchmark's floor: Go's httputil.ReverseProxy in front of one
// upstream, with the connection pool sized like the gateway's. Whatever a Go proxy must pay
// (an extra hop, header copying, a second HTTP parse) it pays too, so the gateway's added
// latency over it is the cost of the gateway's own logic.
package reverseproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Handler proxies every request to upstream (scheme://host[:port]). Streamed responses
// (text/event-stream, or no Content-Length) are flushed as they arrive, which is what
// ReverseProxy does by itself with FlushInterval 0; other responses are not flushed early.
func Handler(upstream string, maxConns int) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("reverse proxy: upstream %q is not an absolute URL", upstream)
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: transport,
	}
	return bufferBody(rp), nil
}

// maxBody bounds a buffered request body, like the gateway's maxRequestBodyBytes default.
const maxBody = 10 << 20

// bufferBody reads the request body before proxying, as the gateway does (it must, to replay
// it on retries). Streaming the body through instead trips golang/go#40747: the HTTP/1 server
// closes the inbound body once the response headers go out, the transport's final read of it
// fails, and the transport tears down the upstream connection mid-stream (about 1% of SSE
// responses cut with "use of closed network connection").
func bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// Serve listens on addr, logs {"msg":"listening","address":...} through logger and proxies to
// upstream until ctx ends.
func Serve(ctx context.Context, addr, upstream string, maxConns int, logger *slog.Logger) error {
	h, err := Handler(upstream, maxConns)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("reverse proxy: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	logger.Info("listening", "address", ln.Addr().String(), "upstream", upstream)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("reverse proxy: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("reverse proxy: shutdown: %w", err)
	}
	return nil
}
