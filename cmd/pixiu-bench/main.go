// Command pixiu-bench is the benchmark driver behind `make bench`: it measures the gateway's
// data plane against a stub upstream (direct, through httputil.ReverseProxy, through the
// gateway with static and with registry-discovered endpoints, and through variants of the
// static gateway: auth, consumer limits, model routing, tokenizer) and its discovery path against
// real Nacos-protocol registries (Polaris over the 1.x HTTP API, r-nacos over gRPC), then prints
// a markdown report and writes it to a file.
//
//	pixiu-bench [-pixiu bin/pixiu] [-out bin/bench-results.md] [-quick] [-nacos host:port] [-discovery http,grpc]
//
// It also runs as its own child processes: `pixiu-bench reverse-proxy -upstream URL` (the
// ReverseProxy floor) and `pixiu-bench gateway -c FILE -cpuprofile FILE` (the gateway in
// process, with a CPU profile, for `pixiu-bench profile`).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/pixiu-llm/gateway/internal/bench/reverseproxy"
	"github.com/pixiu-llm/gateway/internal/bench/suite"
)

func main() {
	run := bench
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "reverse-proxy":
			run, args = reverseProxy, args[1:]
		case "gateway":
			run, args = profiledGateway, args[1:]
		case "profile":
			run, args = profile, args[1:]
		}
	}
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, "pixiu-bench:", err)
		os.Exit(1)
	}
}

func bench(args []string) error {
	opts, out, err := benchOptions(args)
	if err != nil {
		return err
	}
	// The driver allocates little but often; fewer collections keep its own pauses out of the
	// latencies it records.
	debug.SetGCPercent(400)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "pixiu-bench: configs and logs in %s\n", opts.WorkDir)
	run, runErr := suite.Run(ctx, opts)
	if err := writeReport(run.Markdown(), out); err != nil {
		return err
	}
	return runErr
}

// benchOptions reads the command line into the suite's options and the report's path.
func benchOptions(args []string) (suite.Options, string, error) {
	fs := flag.NewFlagSet("pixiu-bench", flag.ExitOnError)
	pixiu := fs.String("pixiu", "bin/pixiu", "gateway binary to benchmark")
	out := fs.String("out", "bin/bench-results.md", "file the markdown report is written to")
	work := fs.String("work", "", "directory for generated configs and child logs (default: a new temp dir)")
	quick := fs.Bool("quick", false, "shorter phases and a smaller scale test (a smoke run)")
	skipDataplane := fs.Bool("skip-dataplane", false, "leave out the data-plane benchmarks")
	skipDiscovery := fs.Bool("skip-discovery", false, "leave out the discovery benchmarks")
	skipChanges := fs.Bool("skip-changes", false, "leave out the discovery change trials and churn (keep the scale part)")
	nacos := fs.String("nacos", "", "use this Nacos (host:port) instead of starting Polaris")
	transports := fs.String("discovery", "http,grpc", "discovery rows to run, comma separated: http (Nacos 1.x API, against Polaris or -nacos), grpc (Nacos gRPC, against an r-nacos the bench starts)")
	profileDir := fs.String("profile", "", "run every gateway in process with CPU and allocation profiles written to this directory")
	scales := fs.String("scale", "", "scale benchmark sizes, SERVICESxINSTANCES, comma separated and growing (default 1000x5; 200x5 with -quick)")
	_ = fs.Parse(args)

	opts := suite.Options{Quick: *quick, SkipDataplane: *skipDataplane, SkipDiscovery: *skipDiscovery, SkipChanges: *skipChanges,
		NacosAddr: *nacos, Command: commandLine(), Log: os.Stderr}
	var err error
	if opts.Transports, err = parseTransports(*transports); err != nil {
		return opts, "", err
	}
	if opts.Scales, err = parseScales(*scales); err != nil {
		return opts, "", err
	}
	if opts.Self, err = os.Executable(); err != nil {
		return opts, "", fmt.Errorf("locate this binary: %w", err)
	}
	if opts.Pixiu, err = filepath.Abs(*pixiu); err != nil {
		return opts, "", err
	}
	if _, err := os.Stat(opts.Pixiu); err != nil {
		return opts, "", fmt.Errorf("gateway binary: %w (build it with `make build`)", err)
	}
	if opts.WorkDir, err = suite.WorkDir(*work); err != nil {
		return opts, "", fmt.Errorf("work dir: %w", err)
	}
	if *profileDir != "" {
		if opts.ProfileDir, err = filepath.Abs(*profileDir); err != nil {
			return opts, "", err
		}
		if err := os.MkdirAll(opts.ProfileDir, 0o755); err != nil {
			return opts, "", err
		}
	}
	return opts, *out, nil
}

// writeReport prints the markdown report and writes it to path.
func writeReport(md, path string) error {
	fmt.Print(md)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(os.Stderr, "pixiu-bench: report written to %s\n", path)
	return nil
}

// parseScales reads "1000x5,2000x5".
func parseScales(s string) ([]suite.ScaleSize, error) {
	if s == "" {
		return nil, nil
	}
	var out []suite.ScaleSize
	for _, part := range strings.Split(s, ",") {
		var sz suite.ScaleSize
		if _, err := fmt.Sscanf(strings.TrimSpace(part), "%dx%d", &sz.Services, &sz.PerService); err != nil || sz.Services <= 0 || sz.PerService <= 0 {
			return nil, fmt.Errorf("-scale %q: want SERVICESxINSTANCES, e.g. 1000x5", part)
		}
		out = append(out, sz)
	}
	return out, nil
}

// parseTransports reads -discovery: the discovery rows to run.
func parseTransports(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		switch t := strings.TrimSpace(part); t {
		case suite.TransportHTTP, suite.TransportGRPC:
			out = append(out, t)
		case "":
		default:
			return nil, fmt.Errorf("-discovery %q: want http, grpc or both, comma separated", part)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-discovery %q: name at least one of http, grpc (or use -skip-discovery)", s)
	}
	return out, nil
}

// commandLine is how the run was invoked, with `make bench` named when make started it.
func commandLine() string {
	cmd := "pixiu-bench " + strings.Join(os.Args[1:], " ")
	if os.Getenv("MAKELEVEL") != "" {
		return "make bench (" + strings.TrimSpace(cmd) + ")"
	}
	return strings.TrimSpace(cmd)
}

func reverseProxy(args []string) error {
	fs := flag.NewFlagSet("reverse-proxy", flag.ExitOnError)
	upstream := fs.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:8000")
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return reverseproxy.Serve(ctx, *listen, *upstream, 256, slog.New(slog.NewJSONHandler(os.Stderr, nil)))
}
