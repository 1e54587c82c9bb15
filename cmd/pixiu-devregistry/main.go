// Command pixiu-devregistry runs a local Nacos-protocol registry for development, the demo and the
// tests: Polaris (Nacos 1.x HTTP API, built from the Go module proxy) or r-nacos (Nacos 1.x HTTP
// and 2.x gRPC, built with cargo). Both are built once and cached outside the repo.
//
//	pixiu-devregistry                       start Polaris on free loopback ports and print its address; Ctrl-C stops it
//	pixiu-devregistry -addr 127.0.0.1:8848  Polaris on a fixed address (gRPC on port+1000), so commands and configs can name it
//	pixiu-devregistry -server rnacos        r-nacos (Nacos 1.x HTTP and 2.x gRPC) on free loopback ports
//	pixiu-devregistry -build-only           only build (or find) both cached server binaries
//
// Without cargo, -build-only builds Polaris and says r-nacos is skipped; with CI=true it fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the registry server binaries and exit")
	server := flag.String("server", "polaris", "registry to run: polaris or rnacos")
	addr := flag.String("addr", "", "Nacos HTTP address for Polaris, 127.0.0.1:PORT (default: free ports)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	port, err := loopbackPort(*addr)
	switch {
	case err != nil:
	case *buildOnly:
		err = build(ctx)
	case port != 0 && *server != "polaris":
		err = fmt.Errorf("-addr is supported with -server polaris only")
	default:
		err = run(ctx, *server, port)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pixiu-devregistry:", err)
		os.Exit(1)
	}
}

// loopbackPort is the port of -addr, which must be on loopback: the registry holds API keys
// and is for this machine only. 0 when -addr is empty.
func loopbackPort(addr string) (int, error) {
	if addr == "" {
		return 0, nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("-addr %q: want 127.0.0.1:PORT", addr)
	}
	if host != "127.0.0.1" && host != "localhost" && host != "" {
		return 0, fmt.Errorf("-addr %q: the development registry listens on 127.0.0.1 only", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("-addr %q: port %q is not 1-65535", addr, portStr)
	}
	return port, nil
}

// build builds both servers. A cold r-nacos build takes tens of minutes on two cores.
func build(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Minute)
	defer cancel()
	bin, err := polaris.Binary(ctx)
	if err != nil {
		return err
	}
	fmt.Println(bin)
	bin, err = rnacos.Binary(ctx)
	if errors.Is(err, rnacos.ErrNoCargo) && os.Getenv("CI") != "true" {
		fmt.Fprintf(os.Stderr, "pixiu-devregistry: r-nacos not built, its tests will be skipped: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Println(bin)
	return nil
}

func run(ctx context.Context, server string, port int) error {
	var addr string
	switch server {
	case "polaris":
		srv, err := polaris.Start(ctx, polaris.Options{NacosPort: port})
		if err != nil {
			return err
		}
		defer func() { _ = srv.Stop() }()
		addr = srv.Addr()
	case "rnacos":
		srv, err := rnacos.Start(ctx, rnacos.Options{LogLevel: "info"})
		if err != nil {
			return err
		}
		defer func() { _ = srv.Stop() }()
		addr = srv.Addr()
		fmt.Printf("Nacos gRPC on %s (HTTP port + 1000)\n", srv.GRPCAddr())
	default:
		return fmt.Errorf("unknown -server %q: want polaris or rnacos", server)
	}
	fmt.Printf("Nacos-protocol registry (%s) listening on %s\n", server, addr)
	fmt.Printf("  export NACOS_ADDRESS=%s\n", addr)
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}
