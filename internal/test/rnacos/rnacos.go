// Package rnacos runs r-nacos (crate rnacos, a Nacos server written in Rust) for tests: a second
// real Nacos-protocol server that serves both the Nacos 1.x HTTP open API and the 2.x gRPC
// protocol. The binary is built once per machine with cargo into a cache outside the repo
// (Binary); each Start runs it on free loopback ports with a scratch data dir. Linux only.
//
// Measured facts live in docs/ai/registry.md ("Tested Nacos servers"); the tests of this
// package and of the gRPC naming client log the timings.
package rnacos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

// Options tunes Start. The zero value is ready to use.
type Options struct {
	// Username and Password, when Username is set, turn on r-nacos's open-API auth
	// (RNACOS_ENABLE_OPEN_API_AUTH) with this user as the initial admin. Empty: auth off.
	Username, Password string
	// ReadyTimeout bounds the wait for the server to answer after each (re)start, not
	// counting a first-time build. Default 60s.
	ReadyTimeout time.Duration
	// LogLevel is RUST_LOG. Default "warn" (info logs every request).
	LogLevel string
	// Env holds extra settings, "RNACOS_X=value" each; they win over the harness's own.
	Env []string
}

// Store says what a Restart does with the server's data dir.
type Store int

const (
	// KeepStore restarts on the same data dir.
	KeepStore Store = iota
	// WipeStore empties the data dir first, as a fresh standalone server would start.
	WipeStore
)

// Port roles in the devserver block: gRPC is HTTP + 1000, the Nacos convention.
const (
	portHTTP = iota
	portGRPC
	numPorts
)

// Server is a running r-nacos process.
type Server struct {
	dir   string // scratch: env file, data/, log
	opts  Options
	block *devserver.PortBlock
	srv   *devserver.Server
	// logOffset is the size of the log when the current start began; used by ready only,
	// within srv's (re)start.
	logOffset int64
}

// Start builds the binary if needed (see Binary), starts r-nacos on a free loopback port block
// with a scratch data dir and the console off, and waits until it serves both protocols.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	if s.dir, err = os.MkdirTemp("", "pixiu-rnacos-"); err != nil {
		return nil, fmt.Errorf("create r-nacos scratch dir: %w", err)
	}
	if s.block, err = devserver.ReservePorts(numPorts); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	s.srv = devserver.NewServer(devserver.Spec{
		Name: "r-nacos at " + s.Addr(),
		Command: devserver.Command{
			Path: bin,
			// -e: read this env file only, never a stray .env of the working dir or its parents.
			Args:    []string{"-e", s.envFile()},
			Dir:     s.dir,
			Env:     inheritedEnv(),
			LogPath: s.logPath(),
		},
		Ready:        s.ready,
		ReadyTimeout: opts.ReadyTimeout,
		Ports:        s.block, // its data is scratch: Stop kills at once
		RemoveDir:    s.dir,
	})
	defer func() {
		if err != nil {
			_ = s.srv.Stop()
		}
	}()
	if err := os.WriteFile(s.envFile(), []byte(strings.Join(s.settings(), "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write r-nacos env file: %w", err)
	}
	if err := s.start(ctx, true); err != nil {
		return nil, err
	}
	return s, nil
}

// settings are the r-nacos environment settings of this server. r-nacos takes the first
// setting of a variable, so Options.Env comes first.
func (s *Server) settings() []string {
	env := append([]string(nil), s.opts.Env...)
	env = append(env,
		"RNACOS_SDK_HOST=127.0.0.1",
		"RNACOS_HTTP_PORT="+strconv.Itoa(s.block.Port(portHTTP)),
		"RNACOS_GRPC_PORT="+strconv.Itoa(s.block.Port(portGRPC)),
		"RNACOS_HTTP_CONSOLE_PORT=0", // no console
		"RNACOS_DATA_DIR="+s.DataDir(),
		"RUST_LOG="+s.opts.LogLevel,
		// On (the default), r-nacos gives an instance that registers again the metadata it had
		// before, not the metadata it registers with: a changed API key would not apply.
		"RNACOS_NAMING_INSTANCE_METADATA_PERSISTENCE_ENABLE=false",
	)
	if s.opts.Username != "" {
		env = append(env,
			"RNACOS_ENABLE_OPEN_API_AUTH=true",
			"RNACOS_INIT_ADMIN_USERNAME="+s.opts.Username,
			"RNACOS_INIT_ADMIN_PASSWORD="+s.opts.Password)
	}
	return env
}

func (s *Server) envFile() string { return filepath.Join(s.dir, "rnacos.env") }

func (s *Server) logPath() string { return filepath.Join(s.dir, "rnacos.log") }

// Addr is the Nacos HTTP address, "127.0.0.1:<port>".
func (s *Server) Addr() string { return s.block.Addr(portHTTP) }

// GRPCAddr is the Nacos gRPC address: the HTTP port + 1000.
func (s *Server) GRPCAddr() string { return s.block.Addr(portGRPC) }

// DataDir is the server's data dir (its sled store).
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// PID is the process id of the running server.
func (s *Server) PID() int { return s.srv.PID() }

// Kill SIGKILLs the server, simulating an outage. Its ports stay reserved for Restart.
func (s *Server) Kill() error { return s.srv.Kill() }

// Restart starts the server again on the same ports (killing it first if it is still running),
// on its data dir or on an empty one, and waits until it is ready.
func (s *Server) Restart(ctx context.Context, store Store) error {
	return s.start(ctx, store == WipeStore)
}

// Stop kills the server, releases its ports and removes its scratch dir. It is safe to call
// more than once.
func (s *Server) Stop() error { return s.srv.Stop() }

// inheritedEnv is this process's environment without r-nacos settings: the env file has the
// last word only for variables that are not already set.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RNACOS_") && !strings.HasPrefix(kv, "RUST_LOG=") {
			env = append(env, kv)
		}
	}
	return env
}
