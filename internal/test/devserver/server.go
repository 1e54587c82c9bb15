package devserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/internal/childproc"
)

// Spec describes a server for Server: how to start it, when it is ready, what it owns.
type Spec struct {
	// Name is used in errors, e.g. "r-nacos".
	Name    string
	Command Command
	// Ready reports whether the server answers; it is polled after each (re)start.
	Ready func(context.Context) error
	// ReadyTimeout bounds the wait for Ready after each (re)start.
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL; <= 0 kills at once.
	StopGrace time.Duration
	// Ports are released by Stop.
	Ports *PortBlock
	// RemoveDir, if set, is removed by Stop.
	RemoveDir string
}

// Server is a server process started from a Spec: it can be killed, restarted with the same
// command on the same ports, and stopped.
type Server struct {
	spec Spec

	mu      sync.Mutex
	proc    *childproc.Process
	stopped bool
}

// NewServer returns a server that is not running yet: Start it, and Stop it in any case.
func NewServer(spec Spec) *Server { return &Server{spec: spec} }

// Start starts the server and waits until it is ready.
func (s *Server) Start(ctx context.Context) error { return s.Restart(ctx, nil) }

// Restart kills the server if it is running, runs prepare (if any: e.g. wipe the data dir),
// starts it again and waits until it is ready.
func (s *Server) Restart(ctx context.Context, prepare func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("%s: restart after stop", s.spec.Name)
	}
	if err := s.killLocked(); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return fmt.Errorf("%s: %w", s.spec.Name, err)
		}
	}
	p, err := Start(s.spec.Command)
	if err != nil {
		return fmt.Errorf("%s: %w", s.spec.Name, err)
	}
	s.proc = p
	readyCtx, cancel := context.WithTimeout(ctx, s.spec.ReadyTimeout)
	defer cancel()
	if err := WaitReady(readyCtx, p, s.spec.Ready); err != nil {
		_ = p.Kill()
		return fmt.Errorf("%s not ready: %w\n--- %s (tail) ---\n%s", s.spec.Name, err, s.spec.Command.LogPath, FileTail(s.spec.Command.LogPath, 2048))
	}
	return nil
}

// Kill SIGKILLs the server, simulating an outage. Its ports stay reserved for Restart.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killLocked()
}

func (s *Server) killLocked() error {
	if s.proc == nil {
		return nil
	}
	if err := s.proc.Kill(); err != nil {
		return fmt.Errorf("kill %s: %w", s.spec.Name, err)
	}
	return nil
}

// Stop ends the server (SIGTERM and Spec.StopGrace, or SIGKILL), releases its ports and removes
// Spec.RemoveDir. It is safe to call more than once.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	if s.proc != nil {
		if s.spec.StopGrace > 0 {
			_ = s.proc.Stop(s.spec.StopGrace) // one that outlives the grace is killed below: no error
		}
		if err := s.proc.Kill(); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.spec.Name, err))
		}
	}
	s.spec.Ports.Release()
	if s.spec.RemoveDir != "" {
		if err := os.RemoveAll(s.spec.RemoveDir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s dir: %w", s.spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

// PID is the process id of the running server, 0 before the first start.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid()
}
