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

	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/internal/bench/proc"
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

// Registry enables the dgp.adapter.llmregistrycenter adapter with one Nacos registry.
type Registry struct {
	Address   string
	Group     string
	Namespace string
	// Extra holds further keys of the registry's config (knobs of the adapter).
	Extra map[string]any
}

// Config describes the generated pixiu.yaml.
type Config struct {
	Routes   []Route
	Clusters []Cluster
	Registry *Registry
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
func (c Config) YAML() ([]byte, error) {
	var routes []any
	for _, r := range c.Routes {
		routes = append(routes, r.yaml())
	}
	listener := map[string]any{
		"name":          "bench",
		"protocol_type": "HTTP",
		"address":       map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port": 0}},
		"filter_chains": map[string]any{"filters": []any{map[string]any{
			"name": "dgp.filter.httpconnectionmanager",
			"config": map[string]any{
				"route_config": map[string]any{"routes": routes},
				"http_filters": c.httpFilters(),
			},
		}}},
		"config": map[string]any{"idle_timeout": "60s", "read_timeout": "60s", "write_timeout": "60s"},
	}
	var clusters []any
	for _, cl := range c.Clusters {
		var eps []any
		for _, e := range cl.Endpoints {
			eps = append(eps, e.yaml())
		}
		clusters = append(clusters, map[string]any{"name": cl.Name, "lb_policy": "RoundRobin", "endpoints": eps})
	}
	static := map[string]any{
		"listeners":       []any{listener},
		"shutdown_config": map[string]any{"timeout": "10s", "step_timeout": "5s"},
	}
	if len(clusters) > 0 {
		static["clusters"] = clusters
	}
	if r := c.Registry; r != nil {
		reg := map[string]any{"protocol": "nacos", "address": r.Address, "timeout": "5s", "group": r.Group, "namespace": r.Namespace}
		for k, v := range r.Extra {
			reg[k] = v
		}
		static["adapters"] = []any{map[string]any{
			"id":     AdapterID,
			"name":   "dgp.adapter.llmregistrycenter",
			"config": map[string]any{"registries": map[string]any{"nacos": reg}},
		}}
	}
	doc := map[string]any{"static_resources": static}
	if c.AdminAddr != "" {
		doc["admin"] = map[string]any{"enable": true, "address": c.AdminAddr}
	}
	if c.MetricsPort != 0 {
		doc["metric"] = map[string]any{"enable": true, "address": "127.0.0.1", "prometheus_port": c.MetricsPort}
	}
	return yaml.Marshal(doc)
}

func (r Route) yaml() any {
	match := map[string]any{"prefix": "/v1"}
	if r.Header != "" {
		match["headers"] = []any{map[string]any{"name": r.Header, "values": []string{r.Value}}}
	}
	action := map[string]any{"cluster": r.Cluster, "cluster_not_found_response_code": 503}
	if r.ModelRouting {
		action = map[string]any{"model_routing": true}
	}
	return map[string]any{"match": match, "route": action}
}

func (e Endpoint) yaml() any {
	ep := map[string]any{
		"id":             e.ID,
		"socket_address": map[string]any{"address": e.Address, "port": e.Port},
	}
	if len(e.Models) > 0 {
		ep["llm_meta"] = map[string]any{"models": e.Models}
	}
	return ep
}

// httpFilters is the chain: the auth filter when there are consumers, the proxy, and the
// tokenizer when asked for.
func (c Config) httpFilters() []any {
	maxConns := c.MaxConns
	if maxConns <= 0 {
		maxConns = 256
	}
	var filters []any
	if len(c.Consumers) > 0 {
		var consumers []any
		for _, cn := range c.Consumers {
			consumers = append(consumers, map[string]any{
				"name":       cn.Name,
				"key_sha256": []string{cn.KeySHA256},
				"limits":     map[string]any{"requests_per_minute": cn.RequestsPerMinute, "tokens_per_minute": cn.TokensPerMinute},
			})
		}
		filters = append(filters, map[string]any{"name": "dgp.filter.llm.auth", "config": map[string]any{"consumers": consumers}})
	}
	filters = append(filters, map[string]any{
		"name": "dgp.filter.llm.proxy",
		"config": map[string]any{
			"timeout": "30s", "scheme": "http",
			"maxIdleConns": maxConns, "maxIdleConnsPerHost": maxConns, "maxConnsPerHost": maxConns,
		},
	})
	if c.Tokenizer {
		filters = append(filters, map[string]any{"name": "dgp.filter.llm.tokenizer", "config": map[string]any{"log_to_console": false}})
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
	y, err := cfg.YAML()
	if err != nil {
		return nil, fmt.Errorf("%s: render config: %w", name, err)
	}
	file := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(file, y, 0o644); err != nil {
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
