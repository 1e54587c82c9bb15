package model

import "time"

// ProtocolTypeHTTP is the only listener protocol the gateway serves.
const ProtocolTypeHTTP = "HTTP"

// Listener is a network listener with its filter chain.
type Listener struct {
	Name         string             `yaml:"name" json:"name"`
	ProtocolType string             `yaml:"protocol_type" json:"protocol_type" default:"HTTP"`
	Address      Address            `yaml:"address" json:"address"`
	FilterChain  FilterChain        `yaml:"filter_chains" json:"filter_chains"`
	Config       HTTPListenerConfig `yaml:"config" json:"config"`
}

// Address wraps a socket address, as in Pixiu.
type Address struct {
	SocketAddress SocketAddress `yaml:"socket_address" json:"socket_address"`
}

// SocketAddress is a host and port, or a list of domains for upstream endpoints.
type SocketAddress struct {
	Address string   `yaml:"address" json:"address"`
	Port    int      `yaml:"port" json:"port"`
	Domains []string `yaml:"domains" json:"domains"`
}

// HTTPListenerConfig holds the HTTP server timeouts of a listener.
type HTTPListenerConfig struct {
	IdleTimeout  time.Duration `yaml:"idle_timeout" json:"idle_timeout" default:"60s"`
	ReadTimeout  time.Duration `yaml:"read_timeout" json:"read_timeout" default:"60s"`
	WriteTimeout time.Duration `yaml:"write_timeout" json:"write_timeout" default:"60s"`
	// ReadHeaderTimeout defaults to ReadTimeout when zero.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	MaxHeaderBytes    int           `yaml:"max_header_bytes" json:"max_header_bytes"`
	AccessLog         AccessLog     `yaml:"access_log" json:"access_log"`
}

// AccessLog configures the listener's access log: one line per request, off by default.
type AccessLog struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Format is json or text.
	Format string `yaml:"format" json:"format" default:"json"`
}

// FilterChain is the list of network filters of a listener.
type FilterChain struct {
	Filters []NetworkFilter `yaml:"filters" json:"filters"`
}

// NetworkFilter is a network filter; the gateway knows dgp.filter.httpconnectionmanager.
type NetworkFilter struct {
	Name   string         `yaml:"name" json:"name"`
	Config map[string]any `yaml:"config" json:"config"`
}

// HTTPConnectionManagerConfig is the config of dgp.filter.httpconnectionmanager.
type HTTPConnectionManagerConfig struct {
	RouteConfig RouteConfiguration `yaml:"route_config" json:"route_config"`
	HTTPFilters []*HTTPFilter      `yaml:"http_filters" json:"http_filters"`
}

// HTTPFilter is one HTTP filter of the chain, such as dgp.filter.llm.proxy.
type HTTPFilter struct {
	Name   string         `yaml:"name" json:"name"`
	Config map[string]any `yaml:"config" json:"config"`
}

// RouteConfiguration is the ordered list of routes; the first match wins.
type RouteConfiguration struct {
	Routes []*Router `yaml:"routes" json:"routes"`
}

// Router is one route.
type Router struct {
	ID    string      `yaml:"id" json:"id"`
	Match RouterMatch `yaml:"match" json:"match"`
	Route RouteAction `yaml:"route" json:"route"`
}

// RouterMatch selects requests. Every set condition must hold.
type RouterMatch struct {
	Prefix  string          `yaml:"prefix" json:"prefix"`
	Path    string          `yaml:"path" json:"path"`
	Methods []string        `yaml:"methods" json:"methods"`
	Headers []HeaderMatcher `yaml:"headers" json:"headers"`
}

// DefaultClusterNotFoundResponseCode is the status of a request whose route sets no
// cluster_not_found_response_code and whose cluster is missing or empty.
const DefaultClusterNotFoundResponseCode = 503

// ClusterNotFoundStatus is the status a request gets when the route's cluster is missing or
// empty.
func (a *RouteAction) ClusterNotFoundStatus() int {
	if a.ClusterNotFoundResponseCode == 0 {
		return DefaultClusterNotFoundResponseCode
	}
	return a.ClusterNotFoundResponseCode
}

// HeaderMatcher matches a request header against values, or a regular expression when Regex is set.
type HeaderMatcher struct {
	Name   string   `yaml:"name" json:"name"`
	Values []string `yaml:"values" json:"values"`
	Regex  bool     `yaml:"regex" json:"regex"`
}

// RouteAction names the cluster a matched request goes to, or, with ModelRouting, lets the
// request's model choose it.
type RouteAction struct {
	Cluster string `yaml:"cluster" json:"cluster"`
	// ClusterNotFoundResponseCode answers a request whose cluster does not exist or has no
	// endpoints. The default tag repeats DefaultClusterNotFoundResponseCode (a tag cannot name a
	// constant).
	ClusterNotFoundResponseCode int `yaml:"cluster_not_found_response_code" json:"cluster_not_found_response_code" default:"503"`
	// ModelRouting sends each request to the cluster whose endpoints list the body's model,
	// and only to those endpoints. It excludes Cluster.
	ModelRouting bool `yaml:"model_routing" json:"model_routing,omitempty"`
	// Clusters, on a ModelRouting route, are the clusters it may use, in order of preference when
	// several serve a model. Empty: every cluster, in name order.
	Clusters []string `yaml:"clusters" json:"clusters,omitempty"`
	// MatchPrefix is the route's match.prefix, set by the router: the model catalog answers
	// under it.
	MatchPrefix string `yaml:"-" json:"-"`
}
