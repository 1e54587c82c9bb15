package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/pixiu-llm/gateway/pkg/common/httpserver"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// DefaultAddress is the host the metrics server binds when metric.address is empty. Upstream
// Pixiu binds every interface; this gateway keeps metrics on loopback unless told otherwise.
const DefaultAddress = "127.0.0.1"

// Server serves /metrics over HTTP. It is configured by pixiu.yaml's metric section.
type Server struct {
	*httpserver.Server
}

// NewServer prepares a metrics server for m on cfg.Address:cfg.PrometheusPort (port 0 picks a
// free port; see Addr). It does not bind yet.
func NewServer(m *Metrics, cfg model.Metric, logger *slog.Logger) *Server {
	host := cfg.Address
	if host == "" {
		host = DefaultAddress
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	addr := net.JoinHostPort(host, strconv.Itoa(cfg.PrometheusPort))
	return &Server{httpserver.New("metrics", addr, mux, logger)}
}

// Start binds the address and serves in the background. The error names
// metric.prometheus_port, the key an operator changes when the port is taken.
func (s *Server) Start() error {
	if err := s.Server.Start("/metrics"); err != nil {
		return fmt.Errorf("metric.prometheus_port: %w", err)
	}
	return nil
}
