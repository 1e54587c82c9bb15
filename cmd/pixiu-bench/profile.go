package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/config"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// profiledGateway runs the gateway from a pixiu.yaml in this process, as `pixiu gateway start`
// does, and writes a CPU profile (and an allocation profile) of what it did between start-up
// and SIGTERM.
func profiledGateway(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	file := fs.String("c", "", "pixiu.yaml")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	memProfile := fs.String("memprofile", "", "write an allocation profile here")
	_ = fs.Parse(args)
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	doc, err := config.LoadFile(*file)
	if err != nil {
		return err
	}
	g, err := server.New(doc, logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := g.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	err = g.Shutdown(context.Background())
	if *memProfile != "" {
		f, ferr := os.Create(*memProfile)
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		defer f.Close()
		runtime.GC()
		err = errors.Join(err, pprof.Lookup("allocs").WriteTo(f, 0))
	}
	return err
}

// profile drives the in-process gateway (a child process) with the data-plane scenarios, one
// child per scenario, and leaves a CPU and an allocation profile of each.
func profile(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	out := fs.String("out", "bin/profiles", "directory for the profiles")
	duration := fs.Duration("duration", 10*time.Second, "length of each profiled scenario")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	stub, err := llmstub.NewServer("127.0.0.1:0", llmstub.Config{Name: "bench", DisableRecording: true, StreamChunks: 10, ChunkInterval: time.Millisecond})
	if err != nil {
		return err
	}
	defer stub.Close()
	_, portStr, _ := net.SplitHostPort(stub.Addr())
	port, _ := strconv.Atoi(portStr)
	cfg := gatewayproc.Config{
		Routes:   []gatewayproc.Route{{Cluster: "bench"}},
		Clusters: []gatewayproc.Cluster{{Name: "bench", Endpoints: []gatewayproc.Endpoint{{ID: "stub", Address: "127.0.0.1", Port: port}}}},
	}
	ctx := context.Background()
	bin := gatewayproc.Binary{Path: self, ProfileDir: *out}
	for _, sc := range []dataplane.Scenario{
		{Name: "unary-1k", Kind: dataplane.KindUnary, Rate: 1000, Duration: *duration, Warmup: time.Second},
		{Name: "saturation", Kind: dataplane.KindSaturation, Concurrency: 32, Duration: *duration, Warmup: time.Second},
		{Name: "stream-500", Kind: dataplane.KindStream, Rate: 500, Duration: *duration, Warmup: time.Second},
	} {
		name := "gateway-" + sc.Name
		gw, err := gatewayproc.Start(ctx, bin, *out, name, cfg)
		if err != nil {
			return err
		}
		ms, err := dataplane.Run(ctx, []dataplane.Scenario{sc},
			[]dataplane.Target{{Name: "gateway (in process, profiled)", URL: gw.URL(), Proc: gw.Process}},
			func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) })
		if stopErr := gw.Stop(30 * time.Second); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if err != nil {
			return err
		}
		fmt.Printf("%s: CPU/req %v; profiles %s.{cpu,allocs}.pprof\n", sc.Name, ms[0].CPUPerRequest(), filepath.Join(*out, name))
	}
	fmt.Printf("inspect with: go tool pprof -top -nodecount=30 %s/gateway-saturation.cpu.pprof\n", *out)
	return nil
}
