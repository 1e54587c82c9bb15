// Package admin is the gateway's admin HTTP server: what the gateway routes to right now and
// where each endpoint came from (GET /admin/clusters), what the adapters see in their registries
// (GET /admin/registries), and liveness/readiness probes (/healthz, /readyz). It is off by
// default and binds loopback unless admin.address says otherwise. It never shows API keys or
// passwords: keys are reported as a count, and everything taken from configs, metadata or
// adapters is redacted.
package admin

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/common/httpserver"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// DefaultAddress is where the admin server listens when enabled without an address.
const DefaultAddress = "127.0.0.1:8889"

// ClusterSource lists the current cluster snapshots (the server's ClusterManager).
type ClusterSource interface {
	Clusters() []*cluster.Cluster
}

// AdapterSource lists the running adapters by id (the server's AdapterManager).
type AdapterSource interface {
	Adapters() map[string]adapter.Adapter
}

// Sources is what the admin server reports on. Only Clusters is required.
type Sources struct {
	Clusters ClusterSource
	Adapters AdapterSource
	// Listeners returns the bound address of each gateway listener by name.
	Listeners func() map[string]net.Addr
	// Consumers lists the consumers the listeners' auth filters know; nil means none.
	Consumers func() []ConsumerView
	// Serving reports whether the gateway's listeners are serving; nil means always.
	Serving func() bool
	// Now is the clock for cooldown state; nil means time.Now.
	Now func() time.Time
}

// Server is the admin HTTP server.
type Server struct {
	*httpserver.Server
	src    Sources
	logger *slog.Logger
}

// New prepares an admin server for cfg.Address (see ResolveAddress). It does not bind yet. The
// error names admin.address when the address is invalid.
func New(cfg model.Admin, src Sources, logger *slog.Logger) (*Server, error) {
	if src.Clusters == nil {
		return nil, errors.New("admin: no cluster source")
	}
	addr, err := ResolveAddress(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("admin.address: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	s := &Server{src: src, logger: logger.With("server", "admin")}
	s.Server = httpserver.New("admin API", addr, s.Handler(), logger)
	return s, nil
}

// ResolveAddress turns admin.address into host:port. An empty address is DefaultAddress; an
// address without a host (":8889", or just "8889") binds 127.0.0.1, not every interface. Binding
// elsewhere takes an explicit host such as 0.0.0.0.
func ResolveAddress(addr string) (string, error) {
	if addr == "" {
		return DefaultAddress, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.Atoi(addr); perr != nil {
			return "", fmt.Errorf("%q is not host:port", addr)
		}
		host, port = "", addr
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q: host %q is not an IP address", addr, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number in 0..65535", addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// Handler is the admin API, without a listener (for tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /admin/clusters", s.clusters)
	mux.HandleFunc("GET /admin/clusters/{name}", s.cluster)
	mux.HandleFunc("GET /admin/registries", s.registries)
	mux.HandleFunc("GET /admin/consumers", s.consumers)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no admin endpoint at "+redact.Text(r.URL.Path)+
			"; try /admin/clusters, /admin/clusters/{name}, /admin/registries, /admin/consumers, /healthz, /readyz")
	})
	return mux
}

// Start binds the address and serves in the background.
func (s *Server) Start() error {
	if err := s.Server.Start(""); err != nil {
		return fmt.Errorf("admin.address: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	v := ReadyView{Ready: s.src.Serving == nil || s.src.Serving(), Listeners: map[string]string{}}
	if s.src.Listeners != nil {
		for name, addr := range s.src.Listeners() {
			v.Listeners[name] = addr.String()
		}
	}
	if s.src.Adapters != nil {
		secrets := s.secrets()
		adapters := s.src.Adapters.Adapters()
		for _, id := range slices.Sorted(maps.Keys(adapters)) {
			av, health := adapterView(id, adapters[id], secrets)
			if !av.ReportsStatus {
				continue
			}
			if v.Adapters == nil {
				v.Adapters = map[string]AdapterHealth{}
			}
			v.Adapters[id] = health
		}
	}
	status := http.StatusOK
	if !v.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, v)
}

func (s *Server) clusters(w http.ResponseWriter, _ *http.Request) {
	now := s.src.Now()
	clusters := s.src.Clusters.Clusters()
	secrets := secretsOf(clusters)
	v := ClustersView{GeneratedAt: now, Clusters: make([]ClusterView, 0, len(clusters))}
	for _, c := range clusters {
		v.Clusters = append(v.Clusters, clusterView(c, now, secrets))
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	now := s.src.Now()
	clusters := s.src.Clusters.Clusters()
	for _, c := range clusters {
		if c.Name == name {
			writeJSON(w, http.StatusOK, clusterView(c, now, secretsOf(clusters)))
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no cluster %q", name))
}

func (s *Server) registries(w http.ResponseWriter, _ *http.Request) {
	v := RegistriesView{GeneratedAt: s.src.Now(), Adapters: []AdapterView{}}
	if s.src.Adapters != nil {
		secrets := s.secrets()
		adapters := s.src.Adapters.Adapters()
		for _, id := range slices.Sorted(maps.Keys(adapters)) {
			av, _ := adapterView(id, adapters[id], secrets)
			v.Adapters = append(v.Adapters, av)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) consumers(w http.ResponseWriter, _ *http.Request) {
	v := ConsumersView{GeneratedAt: s.src.Now(), Consumers: []ConsumerView{}}
	if s.src.Consumers != nil {
		v.Consumers = append(v.Consumers, s.src.Consumers()...)
	}
	writeJSON(w, http.StatusOK, v)
}

// secrets are the API keys the gateway currently holds; any output that contains one of them is
// scrubbed, whatever field it sits in.
func (s *Server) secrets() []string { return secretsOf(s.src.Clusters.Clusters()) }

func secretsOf(clusters []*cluster.Cluster) []string {
	var keys []string
	for _, c := range clusters {
		for _, m := range c.Members {
			keys = append(keys, m.Keys...)
		}
	}
	return keys
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := encode(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := encode(map[string]string{"error": msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
