package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/internal/childproc"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/polaris"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// Names the demo and configs/demo.yaml agree on.
const (
	demoGroup   = "pixiu_demo"
	demoCluster = "chat"
)

// provider is one local OpenAI-style upstream and how it registers itself.
type provider struct {
	name     string
	stub     *llmstub.Stub
	keyEnv   string // environment variable the register process reads the key from
	key      string
	fallback bool
	retry    string             // policy name; "" = NoRetry
	config   string             // policy config JSON
	reg      *childproc.Process // its `pixiu llm register` process while registered
}

type demo struct {
	out    *printer
	bin    string
	config string
	began  time.Time

	tmp        string
	registry   *polaris.Server
	providers  map[string]*provider
	gateway    *childproc.Process
	gatewayLog *os.File
	gatewayURL string
	adminURL   string
	metricsURL string
	broken     *llmprovider.Registrar
	brokenInst llmprovider.Instance
	// Consumer keys of configs/demo.yaml's auth filter, random per run (limits.go).
	appKey, trialKey string

	mu       sync.Mutex
	answered map[string]int // provider name → answers the client received from it
	requests int
}

func newDemo(bin, config string, out io.Writer) *demo {
	began := time.Now()
	return &demo{
		out:       &printer{w: out, began: began},
		bin:       bin,
		config:    config,
		began:     began,
		providers: map[string]*provider{},
		answered:  map[string]int{},
	}
}

func (d *demo) run(ctx context.Context) error {
	d.out.say("pixiu LLM gateway demo: providers register in Nacos, the gateway discovers and routes them.")
	d.out.say("Everything runs on 127.0.0.1 and is stopped at the end (Ctrl-C stops it at any point).")
	if _, err := os.Stat(d.bin); err != nil {
		return fmt.Errorf("gateway binary %s: %w (run `make build` first)", d.bin, err)
	}
	if _, err := os.Stat(d.config); err != nil {
		return fmt.Errorf("gateway config %s: %w", d.config, err)
	}
	var err error
	if d.tmp, err = os.MkdirTemp("", "pixiu-demo-"); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		d.startRegistry,
		d.startProviders,
		d.showRejection,
		d.registerFirstProviders,
		d.startGateway,
		d.roundRobin,
		d.streaming,
		d.tokens,
		d.fallback,
		d.providerLeaves,
		d.providerJoins,
		d.modelCatalog,   // models.go
		d.consumerLimits, // limits.go
		d.rejectedInstance,
	}
	d.out.steps = len(steps) + 1 // and the shutdown
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // interrupted: whatever failed, failed because of that
			}
			return err
		}
	}
	return d.shutdown()
}

func (d *demo) startRegistry(ctx context.Context) error {
	d.out.title("Starting the Nacos-protocol registry (Polaris, built from the Go module proxy on first use: about a minute)")
	began := time.Now()
	ctx, cancel := bounded(ctx, 10*time.Minute)
	defer cancel()
	// The demo's data is thrown away: no graceful registry shutdown needed.
	reg, err := polaris.Start(ctx, polaris.Options{StopGrace: -1})
	if err != nil {
		return errorf(err, "start the registry")
	}
	d.registry = reg
	d.out.info("registry ready at %s (Nacos 1.x HTTP API) after %.1fs", reg.Addr(), time.Since(began).Seconds())
	return nil
}

func (d *demo) startProviders(context.Context) error {
	d.out.title("Starting three OpenAI-style providers (local stubs; each one only accepts its own API key)")
	specs := []provider{
		{name: "alpha", fallback: true, retry: "CountBased", config: `{"times": 1}`},
		{name: "beta"},
		{name: "gamma"},
	}
	for _, p := range specs {
		p.key = "sk-demo-" + p.name + "-" + randomHex(12)
		p.keyEnv = "DEMO_" + strings.ToUpper(p.name) + "_API_KEY"
		stub, err := llmstub.NewServer("127.0.0.1:0", llmstub.Config{
			Name: p.name, Model: p.name + "-model", APIKey: p.key,
			StreamChunks: 5, ChunkInterval: 150 * time.Millisecond,
		})
		if err != nil {
			return errorf(err, "start provider %s", p.name)
		}
		p.stub = stub
		d.providers[p.name] = &p
	}
	d.out.info("alpha  %s  primary: fallback on, retry CountBased {\"times\": 1}", d.providers["alpha"].stub.URL())
	d.out.info("beta   %s  secondary", d.providers["beta"].stub.URL())
	d.out.info("gamma  %s  joins later", d.providers["gamma"].stub.URL())
	return nil
}

// registerArgs is the `pixiu llm register` command line of a provider.
func (d *demo) registerArgs(p *provider) []string {
	host, port, _ := net.SplitHostPort(p.stub.Addr())
	args := []string{d.bin, "llm", "register",
		"--nacos", d.registry.Addr(), "--group", demoGroup,
		"--service", "llm-" + p.name, "--cluster", demoCluster, "--id", p.name, "--name", "Provider " + p.name,
		"--ip", host, "--port", port, "--api-key-env", p.keyEnv, "--models", modelsOf(p)}
	if p.retry != "" {
		args = append(args, "--retry-policy", p.retry, "--retry-config", p.config)
	}
	if p.fallback {
		args = append(args, "--fallback")
	}
	return args
}

func (d *demo) showRejection(ctx context.Context) error {
	d.out.title("The registration tool refuses bad metadata before anything reaches Nacos")
	alpha := d.providers["alpha"]
	args := d.registerArgs(alpha)
	for i, a := range args {
		if a == alpha.config {
			args[i] = `{"times": -1}`
		}
	}
	d.out.command(args)
	c, err := startChild("register", []string{alpha.keyEnv + "=" + alpha.key}, func(line string) { d.out.from("pixiu", line) }, args[0], args[1:]...)
	if err != nil {
		return err
	}
	if err := c.Wait(20 * time.Second); err == nil {
		return errors.New("pixiu llm register accepted a negative retry count")
	}
	if c.ExitCode() != 1 {
		_ = c.Stop(time.Second)
		return fmt.Errorf("pixiu llm register: want exit status 1 for bad metadata, got %d", c.ExitCode())
	}
	d.out.info("exit status 1: the message names the metadata key; nothing was registered")
	return ctx.Err()
}

// register starts a provider's `pixiu llm register` process and waits until it is heartbeating.
func (d *demo) register(ctx context.Context, p *provider) error {
	args := d.registerArgs(p)
	d.out.command(args)
	ready := make(chan struct{})
	var once sync.Once
	c, err := startChild("register "+p.name, []string{p.keyEnv + "=" + p.key}, func(line string) {
		d.out.from(p.name, line)
		if strings.HasPrefix(line, "heartbeating") {
			once.Do(func() { close(ready) })
		}
	}, args[0], args[1:]...)
	if err != nil {
		return err
	}
	p.reg = c
	select {
	case <-ready:
		return nil
	case <-c.Done():
		return fmt.Errorf("pixiu llm register for %s exited with status %d", p.name, c.ExitCode())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("pixiu llm register for %s: not registered after 30s", p.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *demo) registerFirstProviders(ctx context.Context) error {
	d.out.title("alpha and beta register themselves with `pixiu llm register` (the API key comes from an environment variable)")
	for _, name := range []string{"alpha", "beta"} {
		if err := d.register(ctx, d.providers[name]); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) startGateway(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	port, adminPort, metricsPort := ports[0], ports[1], ports[2]
	d.out.title("Starting the gateway")
	env := []string{
		"NACOS_ADDRESS=" + d.registry.Addr(),
		"DEMO_GATEWAY_PORT=" + strconv.Itoa(port),
		"DEMO_ADMIN_PORT=" + strconv.Itoa(adminPort),
		"DEMO_METRICS_PORT=" + strconv.Itoa(metricsPort),
	}
	args := []string{d.bin, "gateway", "start", "-c", d.config}
	d.out.command(append(env, args...))
	d.appKey, d.trialKey = "sk-demo-app-"+randomHex(12), "sk-demo-trial-"+randomHex(12)
	d.out.info("consumer keys: random, in DEMO_APP_KEY (consumer demo-app) and DEMO_TRIAL_KEY (consumer trial); never printed")
	consumerKeys := []string{"DEMO_APP_KEY=" + d.appKey, "DEMO_TRIAL_KEY=" + d.trialKey}
	d.gatewayLog, err = os.Create(filepath.Join(d.tmp, "gateway.log"))
	if err != nil {
		return err
	}
	var logMu sync.Mutex
	d.gateway, err = startChild("gateway", append(env, consumerKeys...), func(line string) {
		logMu.Lock()
		fmt.Fprintln(d.gatewayLog, line)
		logMu.Unlock()
		if show := gatewayLine(line); show != "" {
			d.out.from("gateway", show)
		}
	}, args[0], args[1:]...)
	if err != nil {
		return err
	}
	d.gatewayURL = "http://127.0.0.1:" + strconv.Itoa(port)
	d.adminURL = "http://127.0.0.1:" + strconv.Itoa(adminPort)
	d.metricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort)
	return d.waitGatewayRoutes(ctx)
}

// waitGatewayRoutes returns once both registered providers have answered through the gateway:
// it has discovered them all.
func (d *demo) waitGatewayRoutes(ctx context.Context) error {
	began := time.Now()
	wctx, cancel := bounded(ctx, 45*time.Second)
	defer cancel()
	answered := map[string]bool{}
	for !answered["alpha"] || !answered["beta"] {
		if d.gateway.Exited() {
			return fmt.Errorf("the gateway exited with status %d; its log:\n%s", d.gateway.ExitCode(), d.gatewayLogTail())
		}
		if _, who, err := d.chatOnce(wctx); err == nil && who != "" {
			answered[who] = true
			continue
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("alpha and beta not both routed through the gateway within 45s (answered: %v); its log:\n%s",
				keys(answered), d.gatewayLogTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	d.out.info("gateway on %s routes cluster %q after %.1fs (discovered from Nacos, nothing about the providers is in %s)",
		d.gatewayURL, demoCluster, time.Since(began).Seconds(), d.config)
	return nil
}

// chatRound sends n chat completions through the gateway, says who answered each, and returns
// the set of providers that answered.
func (d *demo) chatRound(ctx context.Context, n int) (map[string]bool, error) {
	seen := map[string]bool{}
	for i := 1; i <= n; i++ {
		reply, who, err := d.chat(ctx)
		if err != nil {
			return nil, errorf(err, "request %d", i)
		}
		seen[who] = true
		d.out.info("request %d -> answered by %-5s %q", i, who, reply)
	}
	return seen, nil
}

func (d *demo) roundRobin(ctx context.Context) error {
	d.out.title("Chat completions through the gateway with the official openai-go client (lb_policy RoundRobin)")
	d.out.info("the client sends no provider key: the gateway sets each provider's own key from its Nacos metadata")
	seen, err := d.chatRound(ctx, 4)
	if err != nil {
		return err
	}
	if !seen["alpha"] || !seen["beta"] {
		return fmt.Errorf("round robin over alpha and beta: only %v answered", keys(seen))
	}
	return nil
}

func (d *demo) streaming(ctx context.Context) error {
	d.out.title("A streamed chat completion, printed chunk by chunk as the gateway forwards it")
	who, chunks, err := d.stream(ctx, func(i int, at time.Duration, text string) {
		d.out.info("chunk %d  +%4dms  %q", i, at.Milliseconds(), text)
	})
	if err != nil {
		return err
	}
	if chunks < 2 {
		return fmt.Errorf("the stream arrived in %d chunk(s), want several", chunks)
	}
	d.out.info("stream from %s complete: %d chunks, each passed on as the provider sent it", who, chunks)
	return nil
}

func (d *demo) fallback(ctx context.Context) error {
	d.out.title("Fallback: alpha starts failing with 503 (scripted), beta answers instead")
	alpha := d.providers["alpha"]
	alpha.stub.SetDefault(llmstub.Status(503))
	defer alpha.stub.SetDefault(llmstub.OK())
	failedOver := 0
	for i := 1; i <= 4; i++ {
		before := alpha.stub.Count()
		reply, who, err := d.chat(ctx)
		if err != nil {
			return errorf(err, "request %d", i)
		}
		tried := alpha.stub.Count() - before
		switch {
		case tried > 0:
			failedOver++
			d.out.info("request %d -> alpha failed %d time(s) with 503 (1 try + 1 retry, CountBased times=1) -> fallback -> answered by %s %q", i, tried, who, reply)
		default:
			d.out.info("request %d -> answered by %s %q", i, who, reply)
		}
		if who != "beta" {
			return fmt.Errorf("request %d: alpha is failing, want beta to answer, got %q", i, who)
		}
	}
	if failedOver == 0 {
		return errors.New("no request went to alpha first; fallback not shown")
	}
	d.out.info("the client saw %d successes; alpha's failures never reached it", 4)
	return nil
}

func (d *demo) providerLeaves(ctx context.Context) error {
	d.out.title("Discovery: alpha deregisters (SIGTERM to its register process); its stub keeps running")
	alpha := d.providers["alpha"]
	began := time.Now()
	if err := stopChild(alpha.reg, 10*time.Second); err != nil {
		return errorf(err, "stop alpha's register process")
	}
	if code := alpha.reg.ExitCode(); code != 0 {
		return fmt.Errorf("alpha's register process exited with status %d, want 0", code)
	}
	alpha.reg = nil
	d.out.info("register process exited 0 after deregistering")
	if _, err := d.until(ctx, 30*time.Second, func(who string) bool { return who != "alpha" }, 4); err != nil {
		return errorf(err, "traffic did not leave alpha")
	}
	d.out.info("%.1fs after the SIGTERM the gateway no longer routes to alpha: 4 requests in a row answered by beta", time.Since(began).Seconds())
	return nil
}

func (d *demo) providerJoins(ctx context.Context) error {
	d.out.title("Discovery: gamma registers and starts getting traffic")
	gamma := d.providers["gamma"]
	began := time.Now()
	if err := d.register(ctx, gamma); err != nil {
		return err
	}
	if _, err := d.until(ctx, 30*time.Second, func(who string) bool { return who == "gamma" }, 1); err != nil {
		return errorf(err, "gamma got no traffic")
	}
	d.out.info("gamma answered %.1fs after its register process started", time.Since(began).Seconds())
	seen, err := d.chatRound(ctx, 4)
	if err != nil {
		return err
	}
	if !seen["beta"] || !seen["gamma"] || seen["alpha"] {
		return fmt.Errorf("want beta and gamma to share traffic, got %v", keys(seen))
	}
	return nil
}

// until sends requests until ok holds for the answering provider n times in a row, or the
// bound passes. It returns how long that took.
func (d *demo) until(parent context.Context, bound time.Duration, ok func(who string) bool, n int) (time.Duration, error) {
	began := time.Now()
	ctx, cancel := bounded(parent, bound)
	defer cancel()
	streak := 0
	for {
		_, who, err := d.chat(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return 0, ctx.Err()
		case err == nil && ok(who):
			streak++
			if streak >= n {
				return time.Since(began), nil
			}
			continue
		default:
			streak = 0
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return 0, parent.Err()
			}
			return 0, fmt.Errorf("not within %v", bound)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *demo) shutdown() error {
	d.out.title("Shutting down: providers deregister, the gateway drains and exits, the registry stops")
	for _, name := range []string{"alpha", "beta", "gamma"} {
		p := d.providers[name]
		if p.reg == nil {
			continue
		}
		err := stopChild(p.reg, 10*time.Second)
		code := p.reg.ExitCode()
		p.reg = nil
		if err != nil || code != 0 {
			return fmt.Errorf("%s's register process: exit status %d: %v", name, code, err)
		}
		d.out.info("%s deregistered (register process exit status 0)", name)
	}
	if d.gateway != nil {
		err := stopChild(d.gateway, 20*time.Second)
		code := d.gateway.ExitCode()
		d.gateway = nil
		if err != nil || code != 0 {
			return fmt.Errorf("gateway: exit status %d: %v", code, err)
		}
		d.out.info("gateway stopped on SIGTERM (exit status 0)")
	}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		d.providers[name].stub.Close()
	}
	d.out.info("provider stubs stopped")
	if d.registry != nil {
		err := d.registry.Stop()
		d.registry = nil
		if err != nil {
			return errorf(err, "stop the registry")
		}
		d.out.info("registry stopped")
	}
	return nil
}

// cleanup stops whatever is still running, in reverse order of start, and removes temp dirs.
// It is safe after any failure or interruption.
func (d *demo) cleanup() error {
	var errs []error
	for _, name := range []string{"alpha", "beta", "gamma"} {
		if p := d.providers[name]; p != nil && p.reg != nil {
			_ = p.reg.Stop(5 * time.Second)
			p.reg = nil
		}
	}
	if d.broken != nil {
		_ = d.broken.Deregister(d.brokenInst)
		_ = d.broken.Close()
		d.broken = nil
	}
	if d.gateway != nil {
		_ = d.gateway.Stop(10 * time.Second)
		d.gateway = nil
	}
	for _, p := range d.providers {
		p.stub.Close()
	}
	if d.gatewayLog != nil {
		_ = d.gatewayLog.Close()
	}
	if d.registry != nil {
		if err := d.registry.Stop(); err != nil {
			errs = append(errs, errorf(err, "stop the registry"))
		}
		d.registry = nil
	}
	if d.tmp != "" {
		if err := os.RemoveAll(d.tmp); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *demo) summary(took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out.say("\nDemo complete in %.1fs. What happened:", took.Seconds())
	d.out.say("  - providers registered themselves in Nacos with `pixiu llm register`; bad metadata was refused up front")
	d.out.say("  - the gateway discovered them (no provider in its config) and sent each one its own API key")
	d.out.say("  - %d chat completions went through the gateway (alpha %d, beta %d, gamma %d), two of them streamed",
		d.requests, d.answered["alpha"], d.answered["beta"], d.answered["gamma"])
	d.out.say("  - while alpha failed with 503, its retry ran and fallback sent the requests to beta")
	d.out.say("  - alpha deregistering and gamma registering changed the routing live, with no restart")
	d.out.say("  - the gateway answered models.list() itself and routed each model to the providers registering it")
	d.out.say("  - the trial consumer ran into its limit of 300 tokens per minute: 429 with Retry-After, no provider")
	d.out.say("    called; served again after the wait, its stream charged from the usage the gateway asked for")
	d.out.say("  - an instance with invalid metadata was not routed and was reported, naming the key")
	d.out.say("  - every process was stopped and every temp dir removed")
}

func (d *demo) gatewayLogTail() string {
	data, err := os.ReadFile(filepath.Join(d.tmp, "gateway.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// freePorts finds n distinct free loopback ports, holding them all open while it looks so that
// no port is handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
