package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/common/requestid"
	"github.com/pixiu-llm/gateway/pkg/common/urlpath"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// listener is one configured HTTP listener with its compiled routes and filter chains.
type listener struct {
	name      string
	addr      string
	server    *http.Server
	ln        net.Listener
	factories []filter.HTTPFilterFactory
	routers   routers
	access    *accessLog // nil when the access log is off
	logger    *slog.Logger
	inFlight  atomic.Int64
}

func newListener(doc *config.Document, index int, l *model.Listener, env filter.Env, accessOut io.Writer) (*listener, error) {
	path := fmt.Sprintf("static_resources.listeners[%d]", index)
	out := &listener{name: l.Name, logger: env.Logger.With("listener", l.Name)}
	access, err := newAccessLog(l.Config.AccessLog, accessOut)
	if err != nil {
		return nil, doc.Errorf(path+".config.access_log.format", "access log format: %v", err)
	}
	out.access = access
	host := l.Address.SocketAddress.Address
	if host == "" {
		host = "0.0.0.0"
	}
	out.addr = net.JoinHostPort(host, strconv.Itoa(l.Address.SocketAddress.Port))

	// Each httpconnectionmanager contributes its routes in order; the first match wins.
	for j, nf := range l.FilterChain.Filters {
		fp := fmt.Sprintf("%s.filter_chains.filters[%d].config", path, j)
		var hcm model.HTTPConnectionManagerConfig
		if _, err := config.Decode(nf.Config, &hcm, fp); err != nil {
			return nil, err
		}
		chain, factories, err := buildChain(doc, hcm.HTTPFilters, fp+".http_filters", env)
		out.factories = append(out.factories, factories...)
		if err != nil {
			out.stopFilters()
			return nil, err
		}
		rt := &router{chain: chain, observers: observersOf(factories)}
		for k, r := range hcm.RouteConfig.Routes {
			cr, err := compileRoute(r, fmt.Sprintf("%s.route_config.routes[%d]", fp, k))
			if err != nil {
				out.stopFilters()
				return nil, err
			}
			rt.routes = append(rt.routes, cr)
		}
		out.routers = append(out.routers, rt)
	}

	cfg := l.Config
	readHeader := cfg.ReadHeaderTimeout
	if readHeader == 0 {
		readHeader = cfg.ReadTimeout
	}
	out.server = &http.Server{
		Addr:              out.addr,
		Handler:           out,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: readHeader,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(out.logger.Handler(), slog.LevelDebug),
	}
	return out, nil
}

// ServeHTTP serves one client request: it checks the path, then hands the request with its
// Record to the first connection manager whose routes match.
func (l *listener) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	l.inFlight.Add(1)
	defer l.inFlight.Add(-1)
	rec := &filter.Record{Start: time.Now(), Method: req.Method, Path: req.URL.Path, RequestID: requestid.Ensure(req)}
	if rec.RequestID != "" {
		w.Header()[requestid.ResponseHeader] = []string{rec.RequestID}
	}
	rw := &filter.RecordingWriter{ResponseWriter: w, Rec: rec}
	defer l.access.write(rec) // deferred: a stream cut off by panicking is logged too
	// A path that could climb out of its route's prefix is refused before any route sees it.
	if err := urlpath.Check(req.URL.Path); err != nil {
		openaierror.Write(rw, http.StatusBadRequest, openaierror.TypeInvalidRequest, "invalid_path", err.Error())
		return
	}
	l.routers.ServeHTTP(rw, req.WithContext(filter.WithRecord(req.Context(), rec)))
}

// buildChain creates, configures and applies the http filters, and composes them so that the
// first filter in the list sees the request first.
func buildChain(doc *config.Document, filters []*model.HTTPFilter, path string, env filter.Env) (http.Handler, []filter.HTTPFilterFactory, error) {
	var factories []filter.HTTPFilterFactory
	for i, f := range filters {
		fp := fmt.Sprintf("%s[%d]", path, i)
		if f == nil || f.Name == "" {
			return nil, factories, doc.Errorf(fp+".name", "http filter name is required")
		}
		plugin, err := filter.GetHTTPFilterPlugin(f.Name)
		if err != nil {
			return nil, factories, doc.Errorf(fp+".name", "%v", err)
		}
		factory, err := plugin.CreateFilterFactory(env)
		if err != nil {
			return nil, factories, doc.Errorf(fp, "creating %s: %v", f.Name, err)
		}
		factories = append(factories, factory)
		warnings, err := config.Decode(f.Config, factory.Config(), fp+".config")
		for _, w := range warnings {
			env.Logger.Warn("config: "+w.Msg, "file", doc.File, "key", w.Path)
		}
		if err != nil {
			return nil, factories, locateFieldError(doc, err)
		}
		if err := factory.Apply(); err != nil {
			return nil, factories, pluginError(doc, fp+".config", f.Name, err)
		}
	}
	var h http.Handler = noTerminalFilter
	for i := len(factories) - 1; i >= 0; i-- {
		h = factories[i].Handler(h)
	}
	return h, factories, nil
}

// observersOf returns the factories that observe every finished request of their chain.
func observersOf(factories []filter.HTTPFilterFactory) []filter.Observer {
	var out []filter.Observer
	for _, f := range factories {
		if o, ok := f.(filter.Observer); ok {
			out = append(out, o)
		}
	}
	return out
}

// pluginError locates an error a plugin's Apply returned: a *config.FieldError's path is taken
// relative to the plugin's config at path.
func pluginError(doc *config.Document, path, plugin string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return doc.Errorf(path+"."+fe.Path, "%s: %v", plugin, fe.Err)
	}
	return doc.Errorf(path, "%s: %v", plugin, err)
}

func locateFieldError(doc *config.Document, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return doc.Errorf(fe.Path, "%v", fe.Err)
	}
	return &config.Error{File: doc.File, Err: err}
}

// listen binds the listener's address; it does not serve yet.
func (l *listener) listen() error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.name, err)
	}
	l.ln = ln
	return nil
}

func (l *listener) serve() {
	l.logger.Info("listening", "address", l.ln.Addr().String())
	if err := l.server.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.logger.Error("listener stopped", "error", err)
	}
}

// shutdown stops accepting and waits for in-flight requests until ctx ends, then closes what is left.
func (l *listener) shutdown(ctx context.Context) error {
	start := time.Now()
	err := l.server.Shutdown(ctx)
	if err != nil {
		_ = l.server.Close()
		l.logger.Warn("shutdown deadline reached; closed remaining connections", "waited", time.Since(start).String())
	}
	l.stopFilters()
	return err
}

// active is the number of requests being served.
func (l *listener) active() int { return int(l.inFlight.Load()) }

func (l *listener) stopFilters() {
	for _, f := range l.factories {
		if s, ok := f.(filter.Stopper); ok {
			s.Stop()
		}
	}
}
