// Command pixiu-devregistry runs a local Nacos-protocol registry (Polaris, built from the Go
// module proxy and cached outside the repo) for development, the demo and the tests.
//
//	pixiu-devregistry              start a registry on loopback and print its address; Ctrl-C stops it
//	pixiu-devregistry -build-only  only build (or find) the cached server binary
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pixiu-llm/gateway/pkg/test/polaris"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the registry server binary and exit")
	flag.Parse()
	if err := run(*buildOnly); err != nil {
		fmt.Fprintln(os.Stderr, "pixiu-devregistry:", err)
		os.Exit(1)
	}
}

func run(buildOnly bool) error {
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
	srv, err := polaris.Start(ctx, polaris.Options{})
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
