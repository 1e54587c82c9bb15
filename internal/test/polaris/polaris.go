// Package polaris runs a real Nacos-protocol registry for tests, benchmarks
// and the demo: Polaris (github.com/polarismesh/polaris) serves the Nacos 1.x
// HTTP open API, and unlike Java Nacos it can be built from the Go module
// proxy. Linux only (flock, Pdeathsig).
//
// Measured on a 2-CPU Linux box with polaris v1.18.1 (polaris_test.go logs
// the timings):
//
//   - Build: ~75s with an empty build cache (module already downloaded), ~40s
//     with dependencies cached, seconds when only linking. Start to ready and
//     Kill+Restart to ready: 0.1-0.2s. A graceful stop (SIGTERM) takes 5s:
//     Polaris sleeps that long on exit, hence Options.StopGrace.
//   - Polaris derives the Nacos gRPC port as HTTP port + 1000; it opens no other
//     fixed ports (its UDP push socket is ephemeral).
//   - Namespace "public" and "" are the same namespace (Polaris' "default").
//   - No UDP push reaches v1 clients. Changes show in the Nacos API's reads
//     within ~1s (Polaris refreshes its Nacos view every second); the module's
//     clients find them by reading and never ask for pushes.
//   - Removing a service's last instance can take 12-35s to show in the Nacos
//     API, although Polaris logs the delete at once; other changes show in ~1s.
//   - Services and instances, ephemeral ones included, survive Kill+Restart
//     (they live in polaris.bolt in the working dir); RestartWiped deletes it.
//     After a wiped restart a heartbeat for a lost instance is answered with a
//     "service not found" error: llmprovider.Registrar then registers again.
//   - The beat reply asks for a 5s heartbeat interval.
//   - The raw open API rejects a registration without a metadata parameter
//     ("metadata format incorrect"); nacos.Client always sends one.
package polaris

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

// Options tunes Start. The zero value is ready to use.
type Options struct {
	// Dir is the server's working directory (config, ./polaris.bolt, ./log).
	// Empty means a fresh temp dir, removed by Stop; a given Dir is kept.
	Dir string
	// ReadyTimeout bounds the wait for the Nacos API to answer after each
	// (re)start, not counting a first-time build. Default 60s.
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL. Default
	// 10s. Polaris sleeps 5s in its graceful shutdown, so a clean stop costs
	// over 5s; negative means SIGKILL straight away (fine for throwaway data).
	StopGrace time.Duration
	// NacosPort fixes the Nacos HTTP port on 127.0.0.1 (its gRPC port is
	// NacosPort+1000, as Nacos 2 has it); 0 picks free ports.
	NacosPort int
}

// Server is a running polaris-server process.
type Server struct {
	dir   string
	block *devserver.PortBlock
	srv   *devserver.Server
}

// Start builds the binary if needed, writes a config with free loopback
// ports into the working dir, starts polaris-server and waits until its Nacos
// service list answers 200.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = 10 * time.Second
	}
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	modDir, err := moduleDir(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: opts.Dir}
	removeDir := ""
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "pixiu-polaris-"); err != nil {
			return nil, fmt.Errorf("create polaris working dir: %w", err)
		}
		removeDir = s.dir
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create polaris working dir: %w", err)
	}
	if s.block, err = reservePorts(opts.NacosPort); err != nil {
		_ = os.RemoveAll(removeDir)
		return nil, err
	}
	s.srv = devserver.NewServer(devserver.Spec{
		Name: "polaris at " + s.Addr(),
		Command: devserver.Command{
			Path:    bin,
			Args:    []string{"start", "-c", filepath.Join("conf", "polaris-server.yaml")},
			Dir:     s.dir,
			LogPath: filepath.Join(s.dir, "polaris-stdout.log"),
		},
		Ready: func(ctx context.Context) error {
			return devserver.GetOK(ctx, "http://"+s.Addr()+"/nacos/v1/ns/service/list?pageNo=1&pageSize=10")
		},
		ReadyTimeout: opts.ReadyTimeout,
		StopGrace:    opts.StopGrace,
		Ports:        s.block,
		RemoveDir:    removeDir,
	})
	defer func() {
		if err != nil {
			_ = s.srv.Stop()
		}
	}()
	if err := writeConfig(filepath.Join(modDir, "release", "conf"), filepath.Join(s.dir, "conf"), s.block); err != nil {
		return nil, err
	}
	if err := s.srv.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the Nacos HTTP address, "127.0.0.1:<port>".
func (s *Server) Addr() string { return s.block.Addr(portNacosHTTP) }

// Dir is the server's working directory (config, data, logs).
func (s *Server) Dir() string { return s.dir }

// Kill SIGKILLs the server, simulating an outage. Its ports stay reserved
// for Restart.
func (s *Server) Kill() error { return s.srv.Kill() }

// Restart starts the server again on the same ports and working dir (killing
// it first if it is still running) and waits until it is ready.
func (s *Server) Restart(ctx context.Context) error { return s.srv.Restart(ctx, nil) }

// RestartWiped is Restart with the server's store deleted first: the server comes back knowing
// no service and no instance, as a standalone Nacos keeping ephemeral instances in memory does
// after a restart, until providers register again (by heartbeat or explicitly).
func (s *Server) RestartWiped(ctx context.Context) error {
	return s.srv.Restart(ctx, func() error {
		if err := os.Remove(filepath.Join(s.dir, storeFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wipe polaris store: %w", err)
		}
		return nil
	})
}

// storeFile is where Polaris keeps services and instances, in its working dir.
const storeFile = "polaris.bolt"

// Stop terminates the server (SIGTERM, then SIGKILL after Options.StopGrace),
// releases its ports and removes the working dir if Start created it. It is
// safe to call more than once.
func (s *Server) Stop() error { return s.srv.Stop() }

// Port roles in the devserver block. Polaris derives the Nacos gRPC port as
// HTTP+1000, which is the block's layout too.
const (
	portNacosHTTP   = iota // 8848
	portNacosGRPC          // 9848, implied by polaris as HTTP+1000
	portEureka             // 8761
	portAPIHTTP            // 8090
	portServiceGRPC        // 8091
	portConfigGRPC         // 8093
	portXDS                // 15010
	numPorts
)

// defaultPorts maps the listenPort values of release/conf/polaris-server.yaml
// to their role.
var defaultPorts = map[int]int{
	8848: portNacosHTTP, 8761: portEureka, 8090: portAPIHTTP,
	8091: portServiceGRPC, 8093: portConfigGRPC, 15010: portXDS,
}

// reservePorts reserves a block of free ports; nacosPort, when not 0, is the Nacos HTTP port
// the block must use, and an error says so when it (or its gRPC port) is taken.
func reservePorts(nacosPort int) (*devserver.PortBlock, error) {
	if nacosPort == 0 {
		return devserver.ReservePorts(numPorts)
	}
	if nacosPort < 0 || nacosPort+1000 > 65535 {
		return nil, fmt.Errorf("nacos port %d: want 1-%d (its gRPC port is %d higher)", nacosPort, 65535-1000, 1000)
	}
	for _, p := range []int{nacosPort, nacosPort + 1000} {
		if !devserver.PortFree(p) {
			return nil, fmt.Errorf("127.0.0.1:%d is in use (the registry needs %d for HTTP and %d for gRPC)", p, nacosPort, nacosPort+1000)
		}
	}
	return devserver.ReservePorts(numPorts,
		devserver.Pin{Role: portNacosHTTP, Port: nacosPort},
		devserver.Pin{Role: portNacosGRPC, Port: nacosPort + 1000})
}

var (
	// The shipped yaml has CRLF line endings.
	listenIPLine   = regexp.MustCompile(`(?m)^([ \t]*listenIP:[ \t]*)[^\r\n]*`)
	listenPortLine = regexp.MustCompile(`(?m)^([ \t]*listenPort:[ \t]*)(\d+)([ \t]*\r?)$`)
)

// writeConfig copies polaris' release/conf into dst with every listener on
// 127.0.0.1 and on the block's ports.
func writeConfig(src, dst string, b *devserver.PortBlock) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Module cache files are read-only; write fresh ones so a reused Dir
		// can be rewritten.
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copy polaris config: %w", err)
	}

	yamlPath := filepath.Join(dst, "polaris-server.yaml")
	data, err := os.ReadFile(yamlPath)
	if err != nil {
		return fmt.Errorf("read polaris config: %w", err)
	}
	if !listenIPLine.Match(data) {
		return fmt.Errorf("%s: no listenIP lines to rewrite", yamlPath)
	}
	data = listenIPLine.ReplaceAll(data, []byte(`${1}"127.0.0.1"`))

	var unknown []string
	seen := map[int]bool{}
	data = listenPortLine.ReplaceAllFunc(data, func(line []byte) []byte {
		m := listenPortLine.FindSubmatch(line)
		def, _ := strconv.Atoi(string(m[2]))
		role, ok := defaultPorts[def]
		if !ok {
			unknown = append(unknown, string(m[2]))
			return line
		}
		seen[role] = true
		return []byte(string(m[1]) + strconv.Itoa(b.Port(role)) + string(m[3]))
	})
	if len(unknown) > 0 || len(seen) != len(defaultPorts) {
		return fmt.Errorf("%s: unexpected listenPort set (unknown %v, rewrote %d of %d)", yamlPath, unknown, len(seen), len(defaultPorts))
	}
	if err := os.WriteFile(yamlPath, data, 0o644); err != nil {
		return fmt.Errorf("write polaris config: %w", err)
	}
	return nil
}
