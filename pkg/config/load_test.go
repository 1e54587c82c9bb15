package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func TestLoadSpecExample(t *testing.T) {
	t.Setenv("DEEPSEEK_API_KEY", "sk-spec-example")
	doc, err := LoadFile("testdata/spec.yaml")
	require.NoError(t, err)
	b := doc.Bootstrap
	sr := b.StaticResources

	require.Len(t, sr.Listeners, 1)
	l := sr.Listeners[0]
	assert.Equal(t, "llm_proxy", l.Name)
	assert.Equal(t, "HTTP", l.ProtocolType)
	assert.Equal(t, "0.0.0.0", l.Address.SocketAddress.Address)
	assert.Equal(t, 8888, l.Address.SocketAddress.Port)
	assert.Equal(t, 5*time.Second, l.Config.IdleTimeout)
	assert.Equal(t, 50*time.Second, l.Config.ReadTimeout)
	assert.Equal(t, 50*time.Second, l.Config.WriteTimeout)
	require.Len(t, l.FilterChain.Filters, 1)
	assert.Equal(t, "dgp.filter.httpconnectionmanager", l.FilterChain.Filters[0].Name)

	var hcm model.HTTPConnectionManagerConfig
	_, err = Decode(l.FilterChain.Filters[0].Config, &hcm, "hcm")
	require.NoError(t, err)
	require.Len(t, hcm.RouteConfig.Routes, 1)
	r := hcm.RouteConfig.Routes[0]
	assert.Equal(t, "/v1", r.Match.Prefix)
	assert.Equal(t, []string{"POST"}, r.Match.Methods)
	assert.Equal(t, []model.HeaderMatcher{{Name: "x-team", Values: []string{"ml"}}}, r.Match.Headers)
	assert.Equal(t, model.RouteAction{Cluster: "chat", ClusterNotFoundResponseCode: 503}, r.Route)
	require.Len(t, hcm.HTTPFilters, 1)
	assert.Equal(t, "dgp.filter.llm.proxy", hcm.HTTPFilters[0].Name)
	assert.Equal(t, map[string]any{"timeout": "60s", "scheme": "https", "maxIdleConns": 100,
		"maxIdleConnsPerHost": 100, "maxConnsPerHost": 100}, hcm.HTTPFilters[0].Config)

	require.Len(t, sr.Clusters, 1)
	c := sr.Clusters[0]
	assert.Equal(t, "chat", c.Name)
	assert.Equal(t, "RoundRobin", c.LbStr)
	require.Len(t, c.Endpoints, 2)
	ep := c.Endpoints[0]
	assert.Equal(t, "deepseek-primary", ep.ID)
	assert.Equal(t, "DeepSeek primary", ep.Name)
	assert.Equal(t, []string{"api.deepseek.com"}, ep.Address.Domains)
	require.NotNil(t, ep.LLMMeta)
	assert.True(t, ep.LLMMeta.Fallback)
	assert.Equal(t, "sk-spec-example", ep.LLMMeta.APIKey)
	assert.Equal(t, "NoRetry", ep.LLMMeta.RetryPolicy.Name)
	assert.Equal(t, int64(5000), ep.LLMMeta.HealthCheckInterval)
	assert.Equal(t, "local", c.Endpoints[1].ID, "upstream Pixiu's `ID` key is accepted")
	assert.Equal(t, "127.0.0.1", c.Endpoints[1].Address.Address)
	assert.Equal(t, 9000, c.Endpoints[1].Address.Port)

	require.Len(t, sr.Adapters, 1)
	assert.Equal(t, "llm-registry", sr.Adapters[0].ID)
	assert.Equal(t, "dgp.adapter.llmregistrycenter", sr.Adapters[0].Name)
	assert.Equal(t, "nacos", sr.Adapters[0].Config["registries"].(map[string]any)["nacos"].(map[string]any)["protocol"])

	require.NotNil(t, sr.ShutdownConfig)
	assert.Equal(t, model.ShutdownConfig{Timeout: 60 * time.Second, StepTimeout: 10 * time.Second, RejectPolicy: "immediacy"}, *sr.ShutdownConfig)
	assert.True(t, b.Metric.Enable)
	assert.Equal(t, 2222, b.Metric.PrometheusPort)
	assert.Empty(t, doc.Warnings)
}

func TestLoadDefaults(t *testing.T) {
	doc, err := Load("min.yaml", []byte(`
static_resources:
  listeners:
    - name: l
      address: {socket_address: {port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config: {routes: [{match: {prefix: /}, route: {cluster: c}}]}
  clusters:
    - name: c
      endpoints: [{id: a, socket_address: {address: 127.0.0.1, port: 1}}]
`))
	require.NoError(t, err)
	l := doc.Bootstrap.StaticResources.Listeners[0]
	assert.Equal(t, "HTTP", l.ProtocolType)
	assert.Equal(t, 60*time.Second, l.Config.ReadTimeout)
	assert.Equal(t, "RoundRobin", doc.Bootstrap.StaticResources.Clusters[0].LbStr)
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("PIXIU_TEST_PORT", "9123")
	t.Setenv("PIXIU_TEST_KEY", "sk-from-env")
	doc, err := Load("env.yaml", []byte(`
static_resources:
  listeners:
    - name: l
      address:
        socket_address:
          port: ${PIXIU_TEST_PORT}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config: {routes: [{match: {prefix: /}, route: {cluster: c}}]}
  clusters:
    - name: c
      endpoints:
        - id: a
          socket_address: {address: 127.0.0.1, port: 1}
          llm_meta:
            api_key: "${PIXIU_TEST_KEY}"
            api_keys: ["${PIXIU_TEST_UNSET_DEFAULTED:-sk-default}", "${PIXIU_TEST_UNSET_NO_DEFAULT}", "${PIXIU_TEST_UNSET_EMPTY:-}"]
          meta: {note: "${PIXIU_TEST_UNSET_NOTE:-}"}
`))
	require.NoError(t, err)
	assert.Equal(t, 9123, doc.Bootstrap.StaticResources.Listeners[0].Address.SocketAddress.Port)
	meta := doc.Bootstrap.StaticResources.Clusters[0].Endpoints[0].LLMMeta
	assert.Equal(t, "sk-from-env", meta.APIKey)
	assert.Equal(t, []string{"sk-default", "", ""}, meta.APIKeys)
	require.Len(t, doc.Warnings, 2, "an empty default is a warning for an API key only: %v", doc.Warnings)
	for i, want := range []struct{ path, msg string }{
		{"static_resources.clusters[0].endpoints[0].llm_meta.api_keys[1]", "PIXIU_TEST_UNSET_NO_DEFAULT is not set"},
		{"static_resources.clusters[0].endpoints[0].llm_meta.api_keys[2]", "PIXIU_TEST_UNSET_EMPTY is not set and its default is empty"},
	} {
		w := doc.Warnings[i]
		assert.Equal(t, want.path, w.Path)
		assert.Contains(t, w.Msg, want.msg)
		assert.Contains(t, w.Msg, "the endpoint gets no key of its own")
		assert.Equal(t, 20, w.Line)
	}
}

const validTail = `
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config: {routes: [{match: {prefix: /}, route: {cluster: c}}]}
`

func TestLoadErrors(t *testing.T) {
	listener := "static_resources:\n  listeners:\n    - name: l\n      address: {socket_address: {port: 0}}" + validTail
	cases := []struct {
		name    string
		yaml    string
		line    int
		wantErr []string
	}{
		{"empty file", "", 0, []string{"bad.yaml", "file is empty"}},
		{"bad yaml", "static_resources:\n  listeners: [\n", 2, []string{"bad.yaml:2", "invalid yaml"}},
		{"wrong type", "static_resources:\n  clusters: {name: x}\n", 2, []string{"bad.yaml:2", "cannot unmarshal"}},
		{"route to missing cluster", listener, 9,
			[]string{"bad.yaml:9", "routes[0].route.cluster", `cluster "c" is not defined`}},
		{"duplicate endpoint ids", listener + "  clusters:\n    - name: c\n      endpoints:\n        - {id: a, socket_address: {address: 127.0.0.1, port: 1}}\n        - {id: a, socket_address: {address: 127.0.0.1, port: 2}}\n", 14,
			[]string{"bad.yaml:14", "static_resources.clusters[0].endpoints[1].id", `duplicate endpoint id "a" in cluster "c"`}},
		{"id and ID", listener + "  clusters:\n    - name: c\n      endpoints:\n        - {id: a, ID: b, socket_address: {address: 127.0.0.1, port: 1}}\n", 13,
			[]string{"bad.yaml:13", "endpoints[0].ID", "both `id` and `ID`"}},
		{"endpoint without address", listener + "  clusters:\n    - name: c\n      endpoints:\n        - {id: a}\n", 13,
			[]string{"bad.yaml:13", "endpoints[0]", "socket_address", `endpoint "a"`}},
		{"domain with credentials", listener + "  clusters:\n    - name: c\n      endpoints:\n        - {id: a, socket_address: {domains: [\"https://user:secret@api.example\"]}}\n", 13,
			[]string{"bad.yaml:13", "endpoints[0].socket_address.domains[0]", "credentials in the address are not supported", "https://[redacted]@api.example"}},
		{"domain with a query", listener + "  clusters:\n    - name: c\n      endpoints:\n        - {id: a, socket_address: {domains: [\"https://api.example/v1?key=secret\"]}}\n", 13,
			[]string{"bad.yaml:13", "endpoints[0].socket_address.domains[0]", "https://api.example/v1?[redacted]"}},
		{"bad duration", listener + "      config: {read_timeout: 5 parsecs}\n  clusters:\n    - name: c\n      endpoints: [{id: a, socket_address: {address: 127.0.0.1, port: 1}}]\n", 10,
			[]string{"bad.yaml:10", "static_resources.listeners[0].config.read_timeout", `"5 parsecs" is not a duration; want a duration like 60s`}},
		{"bad listener port", strings.Replace(listener, "port: 0", "port: 70000", 1) + "  clusters:\n    - {name: c, endpoints: [{id: a, socket_address: {address: 127.0.0.1, port: 1}}]}\n", 4,
			[]string{"bad.yaml:4", "socket_address.port", "70000"}},
		{"unknown retry policy", listener + "  clusters:\n    - name: c\n      endpoints:\n        - id: a\n          socket_address: {address: 127.0.0.1, port: 1}\n          llm_meta: {retry_policy: {name: Forever}}\n", 15,
			[]string{"bad.yaml:15", "llm_meta.retry_policy", `unknown retry policy "Forever"`}},
		{"unknown network filter", strings.Replace(listener, "dgp.filter.httpconnectionmanager", "dgp.filter.tcp", 1), 7,
			[]string{"bad.yaml:7", "filters[0].name", `unknown network filter "dgp.filter.tcp"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("bad.yaml", []byte(tc.yaml))
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "secret@", "credentials in a URL are not echoed")
			assert.NotContains(t, err.Error(), "key=secret", "credentials in a URL are not echoed")
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, tc.line, cerr.Line, err.Error())
		})
	}
}

func TestUnknownLbPolicyWarnsAndBalancesRoundRobin(t *testing.T) {
	doc, err := Load("lb.yaml", []byte("static_resources:\n  clusters:\n    - name: c\n      lb_policy: LeastBusy\n      endpoints: [{id: a, socket_address: {address: 127.0.0.1, port: 1}}]\n"))
	require.NoError(t, err)
	assert.Equal(t, "RoundRobin", doc.Bootstrap.StaticResources.Clusters[0].LbStr)
	require.Len(t, doc.Warnings, 1)
	assert.Equal(t, `line 4: static_resources.clusters[0].lb_policy: unknown lb_policy "LeastBusy" (known: RoundRobin, Rand, WeightRandom, RingHashing, MaglevHashing); using RoundRobin`, doc.Warnings[0].String())
}

func TestUnknownKeysWarn(t *testing.T) {
	doc, err := Load("warn.yaml", []byte("static_resources:\n  listenrs: []\n  clusters:\n    - name: c\n      lb_polcy: Rand\n      endpoints: [{id: a, socket_address: {address: 127.0.0.1, port: 1}}]\nmetrics: {}\n"))
	require.NoError(t, err)
	var got []string
	for _, w := range doc.Warnings {
		got = append(got, w.String())
	}
	assert.Equal(t, []string{
		`line 2: static_resources.listenrs: unknown key, ignored; did you mean "listeners"?`,
		`line 5: static_resources.clusters[0].lb_polcy: unknown key, ignored; did you mean "lb_policy"?`,
		`line 7: metrics: unknown key, ignored; did you mean "metric"?`,
	}, got)
}

func TestDecodePluginConfig(t *testing.T) {
	type target struct {
		Timeout time.Duration `yaml:"timeout" default:"60s"`
		Scheme  string        `yaml:"scheme" default:"https"`
	}
	var cfg target
	warnings, err := Decode(map[string]any{"scheme": "http", "timeut": "1s"}, &cfg, "filters[0].config")
	require.NoError(t, err)
	assert.Equal(t, target{Timeout: 60 * time.Second, Scheme: "http"}, cfg)
	require.Len(t, warnings, 1)
	assert.Equal(t, "filters[0].config.timeut", warnings[0].Path)

	_, err = Decode(map[string]any{"timeout": "soon"}, &target{}, "filters[0].config")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "filters[0].config")
	assert.Contains(t, err.Error(), "soon")
}

// With an adapter configured, a route to a cluster that is not static is expected (the adapter
// may provide it): a remark at info level, not an error or a warning.
func TestRouteToAdapterClusterIsAnInfoRemark(t *testing.T) {
	doc, err := Load("dyn.yaml", []byte(`
static_resources:
  listeners:
    - name: l
      address: {socket_address: {port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config: {routes: [{match: {prefix: /}, route: {cluster: chat}}]}
  adapters:
    - {id: reg, name: dgp.adapter.llmregistrycenter}
`))
	require.NoError(t, err)
	require.Len(t, doc.Warnings, 1)
	w := doc.Warnings[0]
	assert.True(t, w.Info)
	assert.Equal(t, 10, w.Line)
	assert.Contains(t, w.Msg, `cluster "chat" is not defined statically; requests get 503`)
}
