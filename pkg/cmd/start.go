package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/server"
)

func newStartCommand() *cobra.Command {
	var file, level, format string
	c := &cobra.Command{
		Use:   "start",
		Short: "Start the gateway with a pixiu.yaml",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				file = os.Getenv(config.EnvConfigFile)
			}
			if file == "" {
				return fmt.Errorf("no config file: pass -c FILE or set %s", config.EnvConfigFile)
			}
			logger, err := newLogger(level, format)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, file, logger)
		},
	}
	c.Flags().StringVarP(&file, "config", "c", "", "pixiu.yaml to load (default $"+config.EnvConfigFile+")")
	c.Flags().StringVarP(&level, "log-level", "l", "info", "log level: debug, info, warn, error")
	c.Flags().StringVar(&format, "log-format", "text", "log format: text or json")
	return c
}

// run starts the gateway from file and serves until ctx ends, then shuts it down gracefully.
func run(ctx context.Context, file string, logger *slog.Logger) error {
	doc, err := config.LoadFile(file)
	if err != nil {
		return err
	}
	g, err := server.New(doc, logger)
	if err != nil {
		return err
	}
	if err := g.Start(); err != nil {
		return err
	}
	logger.Info("gateway started", "config", file)
	<-ctx.Done()
	logger.Info("shutting down: draining in-flight requests")
	// The shutdown timeout from the config bounds the drain; a second signal is not awaited.
	if err := g.Shutdown(context.Background()); err != nil {
		logger.Warn("shutdown incomplete", "error", err)
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
