package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/common/urlpath"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// route is a compiled route: its matcher and the handler of its filter chain.
type route struct {
	match   model.RouterMatch
	action  *model.RouteAction
	headers []headerMatcher
}

type headerMatcher struct {
	name   string
	values []string
	regex  []*regexp.Regexp
}

func compileRoute(r *model.Router, path string) (route, error) {
	cr := route{match: r.Match, action: &model.RouteAction{}}
	*cr.action = r.Route
	cr.action.MatchPrefix = r.Match.Prefix
	for i, h := range r.Match.Headers {
		if h.Name == "" {
			return route{}, fmt.Errorf("%s.match.headers[%d].name: header name is required", path, i)
		}
		hm := headerMatcher{name: http.CanonicalHeaderKey(h.Name), values: h.Values}
		if h.Regex {
			for j, v := range h.Values {
				re, err := regexp.Compile(v)
				if err != nil {
					return route{}, fmt.Errorf("%s.match.headers[%d].values[%d]: invalid regex: %w", path, i, j, err)
				}
				hm.regex = append(hm.regex, re)
			}
		}
		cr.headers = append(cr.headers, hm)
	}
	return cr, nil
}

// pattern names the route in records and logs: its path, else its prefix.
func (r *route) pattern() string {
	if r.match.Path != "" {
		return r.match.Path
	}
	return r.match.Prefix
}

func (r *route) matches(req *http.Request) bool {
	m := &r.match
	if m.Path != "" && req.URL.Path != m.Path {
		return false
	}
	if m.Prefix != "" && !urlpath.HasSegmentPrefix(req.URL.Path, m.Prefix) {
		return false
	}
	if len(m.Methods) > 0 {
		ok := false
		for _, method := range m.Methods {
			if strings.EqualFold(method, req.Method) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, h := range r.headers {
		if !h.matches(req.Header.Values(h.name)) {
			return false
		}
	}
	return true
}

func (h *headerMatcher) matches(got []string) bool {
	if len(got) == 0 {
		return false
	}
	if len(h.values) == 0 {
		return true // presence is enough
	}
	for _, v := range got {
		if h.regex != nil {
			for _, re := range h.regex {
				if re.MatchString(v) {
					return true
				}
			}
			continue
		}
		for _, want := range h.values {
			if v == want {
				return true
			}
		}
	}
	return false
}

// router holds the routes of one connection manager, its filter chain and the chain's observers.
type router struct {
	routes    []route
	chain     http.Handler
	observers []filter.Observer
}

// serve passes the request, with its route in the context, to the chain of the first matching
// route. It reports false when no route matched.
func (rt *router) serve(w http.ResponseWriter, req *http.Request) bool {
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.matches(req) {
			rec := filter.RecordFrom(req.Context())
			if rec != nil {
				rec.Route = r.pattern()
			}
			if rec != nil {
				// Deferred: a filter that ends a broken answer by panicking (http.ErrAbortHandler)
				// still has its request observed.
				defer func() {
					rec.ClientGone = rec.ClientGone || req.Context().Err() != nil
					rt.observe(rec)
				}()
			}
			rt.chain.ServeHTTP(w, req.WithContext(filter.WithRoute(req.Context(), r.action)))
			return true
		}
	}
	return false
}

// observe hands the request's finished record to the chain's observers.
func (rt *router) observe(rec *filter.Record) {
	for _, o := range rt.observers {
		o.Observe(rec)
	}
}

// routers are the connection managers of a listener, tried in order.
type routers []*router

func (rs routers) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	for _, rt := range rs {
		if rt.serve(w, req) {
			return
		}
	}
	openaierror.Write(w, http.StatusNotFound, openaierror.TypeInvalidRequest, "route_not_found",
		fmt.Sprintf("no route matches %s %s", req.Method, req.URL.Path))
}

// noTerminalFilter answers when a chain has no filter that handles the request itself.
var noTerminalFilter = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
	openaierror.Write(w, http.StatusBadGateway, openaierror.TypeServer, "no_upstream_filter",
		"the route's filter chain has no filter that forwards requests")
})
