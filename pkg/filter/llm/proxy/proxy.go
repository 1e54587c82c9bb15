// Package proxy is the dgp.filter.llm.proxy HTTP filter: it forwards OpenAI-style requests to the
// endpoints of the route's cluster, with per-endpoint retries, fallback to the next endpoint,
// cooldown of failed endpoints and unbuffered streaming.
//
// One request goes like this: the body is read as it arrives (bounded by maxRequestBodyBytes)
// and replayed on every attempt; the first endpoint is picked by the cluster's lb_policy; each
// endpoint is tried as often as its retry policy allows (connection errors, timeouts before the response headers,
// 429, 500, 502, 503 and 504 are retried; any other answer goes to the client as it is); an
// endpoint that used up its attempts is cooled down for its health_check_interval and, when its
// fallback is true, the request moves on to the next endpoint in cluster order (wrapping around,
// each endpoint once). maxAttempts bounds all of a request's attempts together (see attemptsFor).
// Once the response headers went to the client nothing is retried; an answer whose upstream
// stays silent for streamIdleTimeout is cut. Every answer carries X-Pixiu-Attempts.
//
// Upstream URL: scheme (the domain's own, else the filter's scheme) + host (first domain, else
// address:port) + the domain's base path joined with the request path + the request query. When
// the request path already starts with the end of the base path (base /v1, path
// /v1/chat/completions) that part is not repeated; see joinBasePath.
package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/creasty/defaults"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// Kind is the filter's name in pixiu.yaml.
const Kind = "dgp.filter.llm.proxy"

func init() {
	filter.RegisterHTTPFilter(plugin{})
}

type plugin struct{}

func (plugin) Kind() string { return Kind }

func (plugin) CreateFilterFactory(env filter.Env) (filter.HTTPFilterFactory, error) {
	return &factory{env: env}, nil
}

// factory is one configured instance of the filter: it owns the Proxy and its transport.
type factory struct {
	env   filter.Env
	cfg   Config
	proxy *Proxy
}

func (f *factory) Config() any { return &f.cfg }

func (f *factory) Apply() error {
	p, err := New(f.cfg, f.env)
	if err != nil {
		return err
	}
	f.proxy = p
	return nil
}

// Handler returns the proxy; it answers every request, so next is never called.
func (f *factory) Handler(http.Handler) http.Handler { return f.proxy }

func (f *factory) Stop() {
	if f.proxy != nil {
		f.proxy.Close()
	}
}

// Proxy forwards requests to the cluster named by the request's route (filter.RouteFrom).
// It is safe for concurrent use.
type Proxy struct {
	cfg       Config
	clusters  filter.ClusterSource
	transport *http.Transport
	logger    *slog.Logger
	metrics   *metrics.Metrics
	warnings  *warnLimiter
	catalog   catalog
}

// New validates cfg, fills in defaults for zero fields, and builds a proxy with its own upstream
// transport. Close releases the transport's idle connections.
func New(cfg Config, env filter.Env) (*Proxy, error) {
	if err := defaults.Set(&cfg); err != nil {
		return nil, fmt.Errorf("applying defaults: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if env.Clusters == nil {
		return nil, errors.New("no cluster source")
	}
	return &Proxy{
		cfg:       cfg,
		clusters:  env.Clusters,
		transport: newTransport(&cfg),
		logger:    env.FilterLogger(Kind),
		metrics:   env.Metrics,
		warnings:  newWarnLimiter(warnInterval),
	}, nil
}

// Close closes idle upstream connections; connections in use close when their request ends.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }

// statusClientClosed is recorded (never sent) when the client went away before the answer.
const statusClientClosed = 499

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := filter.RouteFrom(r.Context())
	if route == nil {
		openaierror.Write(w, http.StatusInternalServerError, openaierror.TypeServer, "no_route",
			"the LLM proxy filter was called outside a route")
		return
	}
	// The model catalog and routing by model (catalog.go, modelroute.go).
	if p.serveCatalog(w, r, route) {
		return
	}
	if route.ModelRouting {
		p.serveByModel(w, r, route)
		return
	}
	c := p.clusters.Cluster(route.Cluster)
	if c == nil || len(c.Members) == 0 {
		status := route.ClusterNotFoundStatus()
		code, format := "cluster_not_found", "cluster %q not found"
		if c != nil {
			code, format = "cluster_empty", "cluster %q has no endpoints"
		}
		openaierror.Write(w, status, openaierror.TypeServer, code, fmt.Sprintf(format, route.Cluster))
		p.metrics.Request(route.Cluster, "", status)
		return
	}

	body, err := p.readBody(r)
	if err != nil {
		status := p.writeBodyError(w, r, err)
		p.metrics.Request(c.Name, "", status)
		return
	}
	p.forward(w, r, c, nil, body)
}

// forward sends the request, whose body was read, to the endpoints of c, and then of the
// clusters in next (model routing falls back across clusters).
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, c *cluster.Cluster, next []*cluster.Cluster, body []byte) {
	// Reading the body to its end also made the server drop the listener's read deadline and
	// start watching the connection, so the request's context ends when the client leaves.
	rec := filter.RecordFrom(r.Context())
	if rec == nil {
		rec = &filter.Record{} // the filter is used outside a listener
	}
	rec.Cluster = c.Name
	if filter.UsageWanted(r.Context()) && asksForUsage(r) {
		body = withStreamUsage(body) // streamusage.go
	}
	x := exchange{p: p, w: w, rc: *http.NewResponseController(w), r: r, rec: rec, cluster: c, next: next, body: body,
		left: p.cfg.MaxAttempts}
	x.run()
}

// readBody reads the whole request body, at most cfg.MaxRequestBodyBytes of it, as it arrives.
func (p *Proxy) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	return readBody(r.Body, r.ContentLength, p.cfg.MaxRequestBodyBytes)
}

// writeBodyError answers a request whose body could not be read and returns the status.
func (p *Proxy) writeBodyError(w http.ResponseWriter, r *http.Request, err error) int {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		openaierror.Write(w, http.StatusRequestEntityTooLarge, openaierror.TypeInvalidRequest, "request_too_large",
			fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit))
		return http.StatusRequestEntityTooLarge
	case r.Context().Err() != nil:
		return statusClientClosed
	case errors.As(err, &netErr) && netErr.Timeout():
		openaierror.Write(w, http.StatusRequestTimeout, openaierror.TypeInvalidRequest, "request_timeout",
			"timed out reading the request body")
		return http.StatusRequestTimeout
	default:
		openaierror.Write(w, http.StatusBadRequest, openaierror.TypeInvalidRequest, "invalid_request_body",
			"could not read the request body: "+err.Error())
		return http.StatusBadRequest
	}
}
