// Package gatewayproc runs the gateway binary (bin/pixiu) as a child process with a generated
// pixiu.yaml, the way an operator runs it, so that its CPU time and memory can be read from
// /proc apart from the benchmark driver's.
package gatewayproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/proc"
	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/auth"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/proxy"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/tokenizer"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// AdapterID is the id of the registry adapter in generated configs: the source of the
// endpoints it adds.
const AdapterID = "llm-registry"

// Route sends requests under /v1 to Cluster or, with ModelRouting, to the cluster whose
// endpoints list the body's model; with Header set, only those carrying Header: Value.
type Route struct {
	Header, Value string
	Cluster       string
	ModelRouting  bool
}

// Endpoint is a static endpoint at Address:Port.
type Endpoint struct {
	ID      string
	Address string
	Port    int
	// Models are the models it serves (llm_meta.models), for model routing.
	Models []string
}

// Consumer is a consumer of dgp.filter.llm.auth, given by the SHA-256 of its key so that no
// key is written to disk, with its limits (0: none).
type Consumer struct {
	Name                               string
	KeySHA256                          string
	RequestsPerMinute, TokensPerMinute int64
}

// Cluster is a static cluster.
type Cluster struct {
	Name      string
	Endpoints []Endpoint
}

// Config describes the generated pixiu.yaml.
type Config struct {
	Routes   []Route
	Clusters []Cluster
	// Registry, when set, enables the registry adapter (id AdapterID) with this one entry.
	Registry *registry.Config
	// AdminAddr enables the admin server on this address.
	AdminAddr string
	// MetricsPort enables the Prometheus endpoint on 127.0.0.1:MetricsPort.
	MetricsPort int
	// MaxConns sizes the proxy filter's upstream connection pool.
	MaxConns int
	// Consumers, when set, put dgp.filter.llm.auth with these consumers first in the chain.
	Consumers []Consumer
	// Tokenizer adds dgp.filter.llm.tokenizer (log_to_console off) after the proxy, where
	// upstream Pixiu's configs place it.
	Tokenizer bool
}

// YAML renders the config as a pixiu.yaml.
func (c Config) YAML() []byte {
	var routes []*model.Router
	for _, r := range c.Routes {
		routes = append(routes, r.router())
	}
	l := gatewayconfig.Listener("bench", 0, routes, c.httpFilters()...)
	l.Config = model.HTTPListenerConfig{IdleTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	b := &model.Bootstrap{StaticResources: model.StaticResources{
		Listeners:      []*model.Listener{l},
		ShutdownConfig: gatewayconfig.Shutdown(10*time.Second, 5*time.Second),
	}}
	for _, cl := range c.Clusters {
		var eps []*model.Endpoint
		for _, e := range cl.Endpoints {
			eps = append(eps, gatewayconfig.Endpoint(e.ID, net.JoinHostPort(e.Address, strconv.Itoa(e.Port)), e.llmMeta()))
		}
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, gatewayconfig.Cluster(cl.Name, model.LoadBalancerRoundRobin, eps...))
	}
	if c.Registry != nil {
		b.StaticResources.Adapters = []*model.Adapter{gatewayconfig.RegistryAdapter(*c.Registry)}
	}
	if c.AdminAddr != "" {
		b.Admin = model.Admin{Enable: true, Address: c.AdminAddr}
	}
	if c.MetricsPort != 0 {
		b.Metric = model.Metric{Enable: true, Address: "127.0.0.1", PrometheusPort: c.MetricsPort}
	}
	return []byte(gatewayconfig.YAML(b))
}

func (r Route) router() *model.Router {
	match := model.RouterMatch{Prefix: "/v1"}
	if r.Header != "" {
		match.Headers = []model.HeaderMatcher{{Name: r.Header, Values: []string{r.Value}}}
	}
	return &model.Router{Match: match, Route: model.RouteAction{Cluster: r.Cluster, ModelRouting: r.ModelRouting}}
}

func (e Endpoint) llmMeta() *model.LLMMeta {
	if len(e.Models) == 0 {
		return nil
	}
	return &model.LLMMeta{Models: e.Models}
}

// httpFilters is the chain: the auth filter when there are consumers, the proxy, and the
// tokenizer when asked for.
func (c Config) httpFilters() []*model.HTTPFilter {
	maxConns := c.MaxConns
	if maxConns <= 0 {
		maxConns = 256
	}
	var filters []*model.HTTPFilter
	if len(c.Consumers) > 0 {
		var consumers []auth.ConsumerConfig
		for _, cn := range c.Consumers {
			consumers = append(consumers, auth.ConsumerConfig{Name: cn.Name, KeySHA256: []string{cn.KeySHA256},
				Limits: limit.Limits{RequestsPerMinute: cn.RequestsPerMinute, TokensPerMinute: cn.TokensPerMinute}})
		}
		filters = append(filters, gatewayconfig.Filter(auth.Kind, auth.Config{Consumers: consumers}))
	}
	filters = append(filters, gatewayconfig.Proxy(proxy.Config{Timeout: 30 * time.Second, Scheme: "http",
		MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns}))
	if c.Tokenizer {
		// log_to_console is off by default: the bench measures the counting, not the logging.
		filters = append(filters, gatewayconfig.Filter(tokenizer.Kind, nil))
	}
	return filters
}

// Gateway is a running gateway child process.
type Gateway struct {
	// Addr is the bench listener's host:port.
	Addr string
	*proc.Process
}

// URL is the gateway's chat completions URL.
func (g *Gateway) URL() string { return "http://" + g.Addr + "/v1/chat/completions" }

// Binary is how the gateway is run: bin/pixiu (`gateway start -c FILE`), or, with ProfileDir
// set, the benchmark binary's in-process gateway (`gateway -c FILE -cpuprofile ...`), which is
// the same server.New/Start code with CPU and allocation profiles written to ProfileDir.
type Binary struct {
	Path       string
	ProfileDir string
}

func (b Binary) args(configFile, name string) []string {
	if b.ProfileDir == "" {
		return []string{"gateway", "start", "-c", configFile, "--log-format", "json", "-l", "info"}
	}
	return []string{"gateway", "-c", configFile,
		"-cpuprofile", filepath.Join(b.ProfileDir, name+".cpu.pprof"),
		"-memprofile", filepath.Join(b.ProfileDir, name+".allocs.pprof")}
}

// Start writes cfg to dir/<name>.yaml and runs the gateway on it, logging JSON to
// dir/<name>.log, until the bench listener is up. NACOS_ADDRESS is cleared so that the
// registry address in cfg (often the counting proxy) is the one used.
func Start(ctx context.Context, bin Binary, dir, name string, cfg Config) (*Gateway, error) {
	file := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(file, cfg.YAML(), 0o644); err != nil {
		return nil, fmt.Errorf("%s: write config: %w", name, err)
	}
	p, addr, err := proc.Start(ctx, name, filepath.Join(dir, name+".log"), []string{"NACOS_ADDRESS="}, proc.ListeningAddr,
		30*time.Second, bin.Path, bin.args(file, name)...)
	if err != nil {
		return nil, err
	}
	return &Gateway{Addr: addr, Process: p}, nil
}

// FreePort returns a loopback port that was free a moment ago, for servers (such as the admin
// and metrics servers) whose bound address the gateway does not report back.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
