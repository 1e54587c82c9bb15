// Package registryproxy sits between the gateway and the Nacos registry: it counts the
// registry calls the gateway makes and timestamps every service and instance list it hands
// back, so the benchmark knows when a change first reached the gateway. Proxy speaks the Nacos
// 1.x HTTP API; GRPCProxy (grpc.go) forwards Nacos gRPC and GRPCPair (pair.go) puts both where a
// gRPC client looks for them.
package registryproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// Paths of the Nacos 1.x naming API whose responses are reported to the observer.
const (
	PathInstanceList = "/nacos/v1/ns/instance/list"
	PathServiceList  = "/nacos/v1/ns/service/list"
)

// Response is a service or instance list the gateway received.
type Response struct {
	// At is when the proxy finished writing the response to the gateway.
	At   time.Time
	Path string
	// Service is the serviceName query parameter (instance lists: "group@@name").
	Service string
	// Body is the decoded response body; observers must not keep it.
	Body []byte
}

// Proxy is a running counting proxy.
type Proxy struct {
	upstream *url.URL
	client   *http.Client
	observe  func(Response)
	ln       net.Listener
	srv      *http.Server

	total   atomic.Int64
	mu      sync.Mutex
	byPath  map[string]int64
	latency map[string]*load.Histogram // registry response time by "METHOD path"
}

// Start listens on a free loopback port and forwards everything to upstream ("host:port").
// observe, if not nil, is called for every successful list response, on the request's
// goroutine after the response was written; it must be quick and safe for concurrent use.
//
// Query parameters clientIP are rewritten to 127.0.0.1, in case a client (nacos-sdk-go does)
// reports the host's first non-loopback address for the registry to push to: the benchmark
// keeps all traffic on loopback.
func Start(upstream string, observe func(Response)) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry proxy: %w", err)
	}
	return Serve(ln, upstream, observe)
}

// Serve is Start on a listener of the caller's choosing; the proxy closes it.
func Serve(ln net.Listener, upstream string, observe func(Response)) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("registry proxy: upstream %q is not host:port: %w", upstream, err)
	}
	u := &url.URL{Scheme: "http", Host: upstream}
	p := &Proxy{
		upstream: u,
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, DisableCompression: true},
			Timeout:   30 * time.Second,
		},
		observe: observe,
		ln:      ln,
		byPath:  map[string]int64{},
		latency: map[string]*load.Histogram{},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Addr is the proxy's host:port, to configure as the gateway's registry address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Total is the number of requests forwarded so far.
func (p *Proxy) Total() int64 { return p.total.Load() }

// Counts returns the requests forwarded so far by "METHOD path".
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.byPath)
}

// Latencies returns, by "METHOD path", how long the registry took to answer (a copy).
func (p *Proxy) Latencies() map[string]*load.Histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	return copyHistograms(p.latency)
}

func copyHistograms(hs map[string]*load.Histogram) map[string]*load.Histogram {
	out := make(map[string]*load.Histogram, len(hs))
	for k, h := range hs {
		c := &load.Histogram{}
		c.Merge(h)
		out[k] = c
	}
	return out
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	p.client.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.total.Add(1)
	key := r.Method + " " + r.URL.Path
	p.mu.Lock()
	p.byPath[key]++
	p.mu.Unlock()

	q := r.URL.Query()
	if q.Has("clientIP") {
		q.Set("clientIP", "127.0.0.1")
		r.URL.RawQuery = q.Encode()
	}
	resp, body, err := p.forward(r, key)
	if err != nil {
		http.Error(w, "registry proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	p.observeList(time.Now(), r.URL.Path, q.Get("serviceName"), resp, body)
}

// forward sends r to the registry, records how long the call under key took, and returns the
// response with its whole body read.
func (p *Proxy) forward(r *http.Request, key string) (*http.Response, []byte, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream.String()+r.URL.RequestURI(), r.Body)
	if err != nil {
		return nil, nil, err
	}
	out.Header = r.Header.Clone()
	out.ContentLength = r.ContentLength
	sent := time.Now()
	resp, err := p.client.Do(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read upstream: %w", err)
	}
	took := time.Since(sent)
	p.mu.Lock()
	h := p.latency[key]
	if h == nil {
		h = &load.Histogram{}
		p.latency[key] = h
	}
	h.Record(took)
	p.mu.Unlock()
	return resp, body, nil
}

// observeList hands a successful service or instance list, delivered at at, to the observer.
func (p *Proxy) observeList(at time.Time, path, service string, resp *http.Response, body []byte) {
	if p.observe == nil || resp.StatusCode != http.StatusOK {
		return
	}
	if path != PathInstanceList && path != PathServiceList {
		return
	}
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		var err error
		if body, err = gunzip(body); err != nil {
			return
		}
	}
	p.observe(Response{At: at, Path: path, Service: service, Body: body})
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// FormatCounts renders counts as "GET /a: 3, PUT /b: 1", largest first.
func FormatCounts(counts map[string]int64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}
