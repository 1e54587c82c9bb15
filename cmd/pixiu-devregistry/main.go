// Command pixiu-devregistry runs a local Nacos-protocol registry for development, the demo and the
// tests: Polaris (Nacos 1.x HTTP API, built from the Go module proxy) or r-nacos (Nacos 1.x HTTP
// and 2.x gRPC, built with cargo). Both are built once and cached outside the repo.
//
//	pixiu-devregistry                 start Polaris on loopback and print its address; Ctrl-C stops it
//	pixiu-devregistry -server rnacos  the same with r-nacos
//	pixiu-devregistry -build-only     only build (or find) both cached server binaries
//
// Without cargo, -build-only builds Polaris and says r-nacos is skipped; with CI=true it fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/test/polaris"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the registry server binaries and exit")
	server := flag.String("server", "polaris", "registry to run: polaris or rnacos")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *buildOnly {
		err = build(ctx)
	} else {
		err = run(ctx, *server)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pixiu-devregistry:", err)
		os.Exit(1)
	}
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

func run(ctx context.Context, server string) error {
	var addr string
	switch server {
	case "polaris":
		srv, err := polaris.Start(ctx, polaris.Options{})
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
