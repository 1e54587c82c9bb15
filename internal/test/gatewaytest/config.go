package gatewaytest

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Config is gatewayconfig.OneRoute with its parts written as flow-style yaml text.
//
// Deprecated: build a gatewayconfig.OneRoute from the model types.
type Config struct {
	// Port is the listener's port; 0 (the default) means a free one.
	Port int
	// Prefix is the route's prefix; default /v1.
	Prefix string
	// Cluster is the route's cluster; default chat.
	Cluster string
	// HTTPFilters default to the LLM proxy with a 5s timeout.
	HTTPFilters []Filter
	Clusters    []Cluster
	// Listener is the listener's flow-style config, such as "{write_timeout: 300ms}"; default none.
	Listener string
	// Adapters is yaml of static_resources.adapters list items, indented by four spaces.
	Adapters string
	// Shutdown is the flow-style shutdown_config; default {timeout: 5s, step_timeout: 5s}.
	Shutdown string
	Metrics  bool
}

// Filter is an http filter; Config is flow-style yaml such as "{timeout: 5s}", or "" for none.
type Filter struct {
	Name, Config string
}

// ProxyFilter is dgp.filter.llm.proxy with config (flow-style yaml).
func ProxyFilter(config string) Filter {
	return Filter{Name: gatewayconfig.ProxyFilterName, Config: config}
}

// Cluster is a static cluster; Endpoints are rendered by Endpoint. Consistent is flow-style yaml.
type Cluster struct {
	Name, LbPolicy, Consistent string
	Endpoints                  []string
}

// Model is the cluster as the model.
func (cl Cluster) Model() *model.ClusterConfig {
	c := &model.ClusterConfig{Name: cl.Name, LbStr: cl.LbPolicy}
	mustDecode(cl.Consistent, &c.ConsistentHash)
	mustDecode(strings.Join(cl.Endpoints, ""), &c.Endpoints)
	return c
}

// YAML renders the config.
func (c Config) YAML() string {
	r := gatewayconfig.OneRoute{Port: c.Port, Prefix: c.Prefix, Cluster: c.Cluster, Metrics: c.Metrics}
	for _, f := range c.HTTPFilters {
		var config map[string]any
		mustDecode(f.Config, &config)
		r.Filters = append(r.Filters, gatewayconfig.Filter(f.Name, config))
	}
	for _, cl := range c.Clusters {
		r.Clusters = append(r.Clusters, cl.Model())
	}
	mustDecode(c.Listener, &r.Listener)
	mustDecode(c.Adapters, &r.Adapters)
	if c.Shutdown != "" {
		r.Shutdown = &model.ShutdownConfig{}
		mustDecode(c.Shutdown, r.Shutdown)
	}
	return r.YAML()
}

// mustDecode decodes yaml text (none when empty) into v; bad text is a bug in the test.
func mustDecode(text string, v any) {
	if strings.TrimSpace(text) == "" {
		return
	}
	if err := yaml.Unmarshal([]byte(text), v); err != nil {
		panic(fmt.Sprintf("gatewaytest: %T from %q: %v", v, text, err))
	}
}
