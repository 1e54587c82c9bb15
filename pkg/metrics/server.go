package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// DefaultAddress is the host the metrics server binds when metric.address is empty. Upstream
// Pixiu binds every interface; this gateway keeps metrics on loopback unless told otherwise.
const DefaultAddress = "127.0.0.1"

// Server serves /metrics over HTTP. It is configured by pixiu.yaml's metric section.
type Server struct {
	addr   string
	srv    *http.Server
	logger *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	served chan struct{} // closed when Serve returned
}

// NewServer prepares a metrics server for m on cfg.Address:cfg.PrometheusPort (port 0 picks a
// free port; see Addr). It does not bind yet.
func NewServer(m *Metrics, cfg model.Metric, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	host := cfg.Address
	if host == "" {
		host = DefaultAddress
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	s := &Server{
		addr:   net.JoinHostPort(host, strconv.Itoa(cfg.PrometheusPort)),
		logger: logger.With("server", "metrics"),
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Start binds the address and serves in the background. The error names
// metric.prometheus_port, the key an operator changes when the port is taken.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("metrics server already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("metric.prometheus_port: cannot serve metrics on %s: %w", s.addr, err)
	}
	s.ln = ln
	s.served = make(chan struct{})
	s.logger.Info("serving Prometheus metrics", "address", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics server stopped", "error", err)
		}
	}()
	return nil
}

// Addr is the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, letting a scrape in progress finish until ctx ends. It is
// idempotent and safe before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if served != nil {
		<-served
	}
	return err
}
