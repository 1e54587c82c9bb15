// Package httpserver runs the gateway's small side servers (metrics, admin): bind, serve in the
// background, report the bound address, shut down. Their requests are short, so the timeouts
// are fixed.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is one side server. The zero value is not usable; use New.
type Server struct {
	name   string
	addr   string
	srv    *http.Server
	logger *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	served chan struct{} // closed when Serve returned
}

// New prepares a server named name (for logs and errors) for handler on addr; it does not bind.
func New(name, addr string, handler http.Handler, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("server", name)
	return &Server{
		name:   name,
		addr:   addr,
		logger: logger,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
	}
}

// Start binds the address and serves in the background; path is appended to the logged URL.
func (s *Server) Start(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return fmt.Errorf("%s server already started", s.name)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cannot serve %s on %s: %w", s.name, s.addr, err)
	}
	s.ln = ln
	s.served = make(chan struct{})
	s.logger.Info("serving "+s.name, "address", "http://"+ln.Addr().String()+path)
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error(s.name+" server stopped", "error", err)
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

// Shutdown stops the server, letting requests in progress finish until ctx ends. It is
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
