package cmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// envNacosAddress is the variable the gateway also reads for its registry address.
const envNacosAddress = "NACOS_ADDRESS"

type registerFlags struct {
	nacos, namespace, group, username, passwordEnv string
	transport                                      string
	timeout, checkInterval                         time.Duration

	service, cluster, id, name string
	ip                         string
	port                       int
	address                    []string
	apiKeyEnv                  string
	retryPolicy, retryConfig   string
	fallback                   bool
	models                     []string
	weight                     float64
	metadata                   []string
}

func newLLMRegisterCommand() *cobra.Command {
	var f registerFlags
	c := &cobra.Command{
		Use:   "register",
		Short: "Register an LLM service instance in Nacos with gateway metadata, until SIGINT/SIGTERM",
		Long: `Builds the instance metadata the gateway's registry adapter reads, checks it with the
adapter's own conversion (nothing is registered if it would be rejected), registers an ephemeral
instance, keeps it alive with heartbeats, and deregisters it on SIGINT or SIGTERM. Every
--check-interval it also checks that the registry still lists the instance, and registers it
again if the registry lost it (for example after a restart without its data).

With --transport grpc (Nacos 2.x/3.x, gRPC on the port + 1000) there are no heartbeats: the
instance lives as long as this command's connection, so if the process dies the registry drops
it at once. After a registry restart the connection is made again and the instance registered
again by itself (--check-interval is not used).

The API key is read from the environment variable named by --api-key-env, never from a flag
(flag values end up in ps output and shell history). It is never printed.

--ip and --port are the instance's own address in Nacos and the address the gateway dials
(they are also written as the ip and port metadata keys). With --address (domains such as
https://api.deepseek.com) the gateway dials the first domain instead, and --ip/--port default
to this host's address and the domain's port.`,
		Example: `  export DEEPSEEK_API_KEY=...
  pixiu llm register --nacos 127.0.0.1:8848 --group llm-providers --service llm-deepseek \
    --cluster chat --id deepseek-primary --address https://api.deepseek.com \
    --api-key-env DEEPSEEK_API_KEY --retry-policy CountBased --retry-config '{"times": 2}' --fallback \
    --models deepseek-chat,deepseek-reasoner

  The group must be the one the gateway's adapter watches (configs/pixiu-registry.yaml:
  llm-providers).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return f.register(c) },
	}
	f.bind(c)
	return c
}

// register checks the instance the flags describe and keeps it registered until a signal.
func (f *registerFlags) register(c *cobra.Command) error {
	inst, err := f.instance()
	if err != nil {
		return err
	}
	warnUnknownMetaKeys(c.ErrOrStderr(), "--metadata", inst.Metadata)
	summary, err := llmprovider.Check(inst)
	if err != nil {
		return fmt.Errorf("not registered: %w", err)
	}
	ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return f.run(ctx, c.OutOrStdout(), inst, summary)
}

// bind declares the command's flags.
func (f *registerFlags) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.nacos, "nacos", os.Getenv(envNacosAddress), "Nacos address, host:port[,host:port] (default $"+envNacosAddress+")")
	fl.StringVar(&f.namespace, "namespace", llmprovider.DefaultNamespace, "Nacos namespace id")
	fl.StringVar(&f.group, "group", llmprovider.DefaultGroup, "Nacos group; must match the gateway adapter's group")
	fl.StringVar(&f.username, "username", "", "Nacos username, when Nacos auth is on")
	fl.StringVar(&f.passwordEnv, "password-env", "", "environment variable holding the Nacos password")
	fl.StringVar(&f.transport, "transport", registry.TransportHTTP, "http (Nacos 1.x API, heartbeats) or grpc (Nacos 2.x/3.x: the instance lives as long as this command's connection)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "timeout of each request to Nacos")
	fl.DurationVar(&f.checkInterval, "check-interval", 10*time.Second, "how often to check the instance is still registered and register it again if the registry lost it (0 = never)")
	fl.StringVar(&f.service, "service", "", "Nacos service name (required)")
	fl.StringVar(&f.cluster, "cluster", "", "gateway cluster the endpoint joins (metadata "+registry.KeyCluster+", required)")
	fl.StringVar(&f.id, "id", "", "endpoint id, unique in the cluster (metadata "+registry.KeyID+", required)")
	fl.StringVar(&f.name, "name", "", "human-readable endpoint name (metadata "+registry.KeyName+")")
	fl.StringVar(&f.ip, "ip", "", "instance ip the gateway dials (metadata "+registry.KeyIP+")")
	fl.IntVar(&f.port, "port", 0, "instance port the gateway dials (metadata "+registry.KeyPort+")")
	fl.StringSliceVar(&f.address, "address", nil, "domains the gateway dials instead of ip:port, comma separated (metadata "+registry.KeyAddress+")")
	fl.StringVar(&f.apiKeyEnv, "api-key-env", "", "environment variable holding the upstream API key (metadata "+registry.KeyAPIKey+")")
	fl.StringVar(&f.retryPolicy, "retry-policy", "", "CountBased, ExponentialBackoff or NoRetry (metadata "+registry.KeyRetryPolicyName+")")
	fl.StringVar(&f.retryConfig, "retry-config", "", `retry policy config as JSON, e.g. '{"times": 2}' (metadata `+registry.KeyRetryPolicyConfig+")")
	fl.BoolVar(&f.fallback, "fallback", false, "on failure go on to the next endpoint of the cluster (metadata "+registry.KeyFallback+")")
	fl.StringSliceVar(&f.models, "models", nil, "models the endpoint serves, comma separated, e.g. deepseek-chat,deepseek-reasoner (metadata "+registry.KeyModels+")")
	fl.Float64Var(&f.weight, "weight", 1, "Nacos instance weight (> 0), used by WeightRandom balancing")
	fl.StringArrayVar(&f.metadata, "metadata", nil, "extra metadata key=value (repeatable)")
}

// instance turns the flags into the instance to register. Every error names its flag.
func (f *registerFlags) instance() (llmprovider.Instance, error) {
	var in llmprovider.Instance
	for name, v := range map[string]string{"--service": f.service, "--cluster": f.cluster, "--id": f.id} {
		if strings.TrimSpace(v) == "" {
			return in, fmt.Errorf("%s is required", name)
		}
	}
	if strings.TrimSpace(f.nacos) == "" {
		return in, fmt.Errorf("--nacos is required (or set $%s)", envNacosAddress)
	}
	if !(f.weight > 0) {
		return in, fmt.Errorf("--weight %v: must be > 0 (an instance with weight 0 carries no traffic; deregister it instead)", f.weight)
	}
	if f.port < 0 || f.port > 65535 {
		return in, fmt.Errorf("--port %d: want 1-65535", f.port)
	}
	spec := llmprovider.Spec{
		Cluster: f.cluster, ID: f.id, Name: f.name, IP: f.ip, Port: f.port, Address: f.address,
		RetryPolicy: f.retryPolicy, RetryConfig: f.retryConfig, Fallback: f.fallback, Models: f.models,
		Extra: map[string]string{},
	}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return in, fmt.Errorf("--metadata %q: want key=value", kv)
		}
		k = strings.TrimSpace(k)
		if k == registry.KeyAPIKey || k == registry.KeyAPIKeys {
			return in, fmt.Errorf("--metadata %s: API keys are not taken from flags; use --api-key-env", k)
		}
		spec.Extra[k] = v
	}
	if f.apiKeyEnv != "" {
		key := strings.TrimSpace(os.Getenv(f.apiKeyEnv))
		if key == "" {
			return in, fmt.Errorf("--api-key-env %s: the environment variable is not set or empty", f.apiKeyEnv)
		}
		spec.APIKey = key
	}
	meta, err := spec.Metadata()
	if err != nil {
		return in, fmt.Errorf("--metadata: %w", err)
	}

	in = llmprovider.Instance{Service: f.service, Group: f.group, IP: f.ip, Port: uint64(f.port), Weight: f.weight, Metadata: meta}
	if in.IP == "" || in.Port == 0 {
		if len(f.address) == 0 {
			return in, fmt.Errorf("--ip and --port are required unless --address names the upstream")
		}
		// Nacos identifies an instance by ip:port; for a domain upstream they are only a label.
		if in.IP == "" {
			in.IP = localIP()
		}
		if in.Port == 0 {
			in.Port = domainPort(f.address[0])
		}
	}
	return in, nil
}

// options are the registry options the flags give.
func (f *registerFlags) options() (llmprovider.NacosOptions, error) {
	opts := llmprovider.NacosOptions{Address: f.nacos, Namespace: f.namespace, Username: f.username, Timeout: f.timeout}
	if f.passwordEnv != "" {
		opts.Password = os.Getenv(f.passwordEnv)
		if opts.Password == "" {
			return opts, fmt.Errorf("--password-env %s: the environment variable is not set or empty", f.passwordEnv)
		}
	}
	return opts, nil
}

// printRegistered tells what was registered and how the gateway routes it.
func (f *registerFlags) printRegistered(out io.Writer, inst llmprovider.Instance, summary *llmprovider.Summary, how string) {
	fmt.Fprintf(out, "registered %s in nacos %s (namespace %s, group %s); the gateway routes it as\n",
		inst, f.nacos, f.namespace, f.group)
	for _, line := range summary.Lines() {
		fmt.Fprintln(out, "  "+line)
	}
	fmt.Fprintln(out, how+"; SIGINT or SIGTERM deregisters")
}

// run registers inst over the chosen transport until ctx ends, then deregisters it.
func (f *registerFlags) run(ctx context.Context, out io.Writer, inst llmprovider.Instance, summary *llmprovider.Summary) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(f.transport)) {
	case registry.TransportHTTP:
		return f.runHTTP(ctx, out, opts, inst, summary)
	case registry.TransportGRPC:
		return f.runGRPC(ctx, out, opts, inst, summary)
	default:
		return fmt.Errorf("--transport %q: want %s or %s", f.transport, registry.TransportHTTP, registry.TransportGRPC)
	}
}

// runGRPC registers inst on a gRPC connection that lives until ctx ends.
func (f *registerFlags) runGRPC(ctx context.Context, out io.Writer, opts llmprovider.NacosOptions, inst llmprovider.Instance, summary *llmprovider.Summary) error {
	reg, err := llmprovider.ConnectGRPC(opts)
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.Register(inst); err != nil {
		return err
	}
	f.printRegistered(out, inst, summary, "registered over gRPC for as long as this process runs")
	<-ctx.Done()
	if err := reg.Deregister(inst); err != nil {
		return err
	}
	fmt.Fprintf(out, "deregistered %s\n", inst)
	return nil
}

// runHTTP registers inst, keeps it registered with heartbeats and checks until ctx ends, then
// deregisters it.
func (f *registerFlags) runHTTP(ctx context.Context, out io.Writer, opts llmprovider.NacosOptions, inst llmprovider.Instance, summary *llmprovider.Summary) error {
	reg, err := llmprovider.Connect(opts)
	if err != nil {
		return err
	}
	defer reg.Close()

	if err := reg.Register(inst); err != nil {
		return err
	}
	f.printRegistered(out, inst, summary, "heartbeating")

	var kept sync.WaitGroup
	kept.Add(1)
	keepCtx, stopKeeping := context.WithCancel(ctx)
	go func() {
		defer kept.Done()
		reg.KeepRegistered(keepCtx, inst, f.checkInterval, func(msg string) {
			fmt.Fprintf(out, "%s %s\n", time.Now().Format(time.TimeOnly), msg)
		})
	}()
	<-ctx.Done()
	stopKeeping()
	kept.Wait()

	if err := reg.Deregister(inst); err != nil {
		return err
	}
	fmt.Fprintf(out, "deregistered %s\n", inst)
	return nil
}

// localIP is this host's first non-loopback IPv4 address, else 127.0.0.1.
func localIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// domainPort is the port a domain is served on: its explicit port, else 80 for http, else 443.
func domainPort(domain string) uint64 {
	raw := domain
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return 443
	}
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil && p > 0 {
		return p
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}
