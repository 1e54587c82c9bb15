// Command pixiu-devregistry runs a local Nacos-protocol registry (Polaris, built from the Go
// module proxy and cached outside the repo) for development, the demo and the tests.
//
//	pixiu-devregistry                      start a registry on free loopback ports and print its address; Ctrl-C stops it
//	pixiu-devregistry -addr 127.0.0.1:8848  the same on a fixed address (gRPC on port+1000), so commands and configs can name it
//	pixiu-devregistry -build-only           only build (or find) the cached server binary
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the registry server binary and exit")
	addr := flag.String("addr", "", "Nacos HTTP address to listen on, 127.0.0.1:PORT (default: free ports)")
	flag.Parse()
	port, err := loopbackPort(*addr)
	if err == nil {
		err = run(*buildOnly, port)
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

func run(buildOnly bool, port int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if buildOnly {
		buildCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		bin, err := polaris.Binary(buildCtx)
		if err != nil {
			return err
		}
		fmt.Println(bin)
		return nil
	}
	srv, err := polaris.Start(ctx, polaris.Options{NacosPort: port})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	fmt.Printf("Nacos-protocol registry listening on %s\n", srv.Addr())
	fmt.Printf("  export NACOS_ADDRESS=%s\n", srv.Addr())
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}
