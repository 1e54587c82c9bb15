// Command pixiu-demo shows the LLM gateway end to end on this machine, loopback only: a real
// Nacos-protocol registry, OpenAI-style providers that register themselves with
// `pixiu llm register`, the gateway discovering them, and traffic sent with the official
// openai-go client through the gateway while providers fail, leave and join.
//
// Run it with `make demo`. Ctrl-C at any point stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("pixiu", "bin/pixiu", "the gateway binary (make build)")
	configFile := flag.String("config", "configs/demo.yaml", "the gateway config the demo starts it with")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// From here on a second Ctrl-C ends the demo at once; its children die with it (Pdeathsig).
		stop()
	}()

	d := newDemo(*bin, *configFile, os.Stdout)
	err := d.run(ctx)
	cleanupErr := d.cleanup()
	switch {
	case ctx.Err() != nil:
		d.out.say("\nInterrupted: everything the demo started has been stopped.")
		os.Exit(130)
	case err != nil:
		d.out.say("\nDEMO FAILED: %v", err)
		os.Exit(1)
	case cleanupErr != nil:
		d.out.say("\nDEMO FAILED while cleaning up: %v", cleanupErr)
		os.Exit(1)
	}
	d.summary(time.Since(d.began))
}

// bounded returns a context that ends after d or with parent.
func bounded(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}

// errorf wraps err with a step's context, keeping context.Canceled recognizable.
func errorf(err error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
