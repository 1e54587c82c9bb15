package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// upstreamStyle is written the way upstream Pixiu's published LLM configs are: quoted strings,
// a 0.0.0.0 listener, `lb_policy: "lb"`, an integer `id`, `times` directly under retry_policy,
// the tokenizer after the proxy, and no newline at the end of the file.
const upstreamStyle = `static_resources:
  listeners:
    - name: "llm_proxy"
      protocol_type: "HTTP"
      address:
        socket_address:
          address: "0.0.0.0"
          port: 8888
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match:
                      prefix: "/chat/completions"
                    route:
                      cluster: "chat"
                      cluster_not_found_response_code: 505
              http_filters:
                - name: dgp.filter.llm.proxy
                  config:
                    scheme: "https"
                - name: dgp.filter.llm.tokenizer
                  config:
                    log_to_console: true
  clusters:
    - name: "chat"
      lb_policy: "lb"
      endpoints:
        - id: 1
          socket_address:
            domains:
              - "api.deepseek.com"
          llm_meta:
            retry_policy:
              name: "CountBased"
              times: 3
metric:
  enable: true
  prometheus_port: 2222`

// lineOf is the 1-based line of the first line of text that contains s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the fixture", s)
	return 0
}

func warningAt(t *testing.T, doc *Document, path string) Warning {
	t.Helper()
	for _, w := range doc.Warnings {
		if w.Path == path {
			return w
		}
	}
	t.Fatalf("no warning at %s; warnings: %v", path, doc.Warnings)
	return Warning{}
}

func TestUpstreamStyleConfigWithoutTrailingNewlineLoads(t *testing.T) {
	require.False(t, strings.HasSuffix(upstreamStyle, "\n"))
	doc, err := Load("upstream.yaml", []byte(upstreamStyle))
	require.NoError(t, err)
	l := doc.Bootstrap.StaticResources.Listeners[0]
	assert.Equal(t, "0.0.0.0", l.Address.SocketAddress.Address, "a 0.0.0.0 listener loads as written")
	assert.Equal(t, 2222, doc.Bootstrap.Metric.PrometheusPort, "the last line, without a newline, is read")
}

func TestIntegerEndpointIDLoadsAsAString(t *testing.T) {
	doc, err := Load("upstream.yaml", []byte(upstreamStyle))
	require.NoError(t, err)
	assert.Equal(t, "1", doc.Bootstrap.StaticResources.Clusters[0].Endpoints[0].ID)
}

func TestUnknownLbPolicyWarnsWithFileLineAndKnownPoliciesAndUsesRoundRobin(t *testing.T) {
	doc, err := Load("upstream.yaml", []byte(upstreamStyle))
	require.NoError(t, err)
	assert.Equal(t, model.LoadBalancerRoundRobin, doc.Bootstrap.StaticResources.Clusters[0].LbStr)
	w := warningAt(t, doc, "static_resources.clusters[0].lb_policy")
	assert.False(t, w.Info, "an unknown policy is a warning")
	assert.Equal(t, lineOf(t, upstreamStyle, `lb_policy: "lb"`), w.Line)
	assert.Equal(t, `unknown lb_policy "lb" (known: RoundRobin, Rand, WeightRandom, RingHashing, MaglevHashing); using RoundRobin`, w.Msg)
}

func TestLbPolicySpellingsLoadAsTheCanonicalName(t *testing.T) {
	for spelling, want := range map[string]string{
		"round_robin": "RoundRobin", "roundrobin": "RoundRobin", "ROUNDROBIN": "RoundRobin",
		"weight-random": "WeightRandom", "RingHashing": "RingHashing", "maglev_hashing": "MaglevHashing",
	} {
		doc, err := Load("lb.yaml", []byte(strings.Replace(upstreamStyle, `lb_policy: "lb"`, "lb_policy: "+spelling, 1)))
		require.NoError(t, err, spelling)
		assert.Equal(t, want, doc.Bootstrap.StaticResources.Clusters[0].LbStr, spelling)
		for _, w := range doc.Warnings {
			assert.NotContains(t, w.Path, "lb_policy", spelling)
		}
	}
}

func TestRetryTimesDirectlyUnderRetryPolicyIsReadAsConfigTimes(t *testing.T) {
	doc, err := Load("upstream.yaml", []byte(upstreamStyle))
	require.NoError(t, err)
	policy := doc.Bootstrap.StaticResources.Clusters[0].Endpoints[0].LLMMeta.RetryPolicy
	assert.Equal(t, "CountBased", policy.Name)
	assert.Equal(t, map[string]any{"times": 3}, policy.Config)
	w := warningAt(t, doc, "static_resources.clusters[0].endpoints[0].llm_meta.retry_policy.times")
	assert.True(t, w.Info, "an info remark, not a warning")
	assert.Equal(t, lineOf(t, upstreamStyle, "times: 3"), w.Line)
	assert.Contains(t, w.Msg, "read as retry_policy.config.times")
}

func TestRetryKeySetInBothPlacesIsAnError(t *testing.T) {
	both := strings.Replace(upstreamStyle, "              times: 3", "              times: 3\n              config: {times: 2}", 1)
	_, err := Load("both.yaml", []byte(both))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("both.yaml:%d: static_resources", lineOf(t, both, "times: 3"))+".clusters[0].endpoints[0].llm_meta.retry_policy.times: set both here and as config.times")
}

func TestTyposInStructuralKeysAreNamedWithDidYouMean(t *testing.T) {
	typo := strings.Replace(upstreamStyle, "      filter_chains:", "      filter_chain:", 1)
	_, err := Load("typo.yaml", []byte(typo))
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf(`typo.yaml:%d: static_resources.listeners[0].filter_chain: unknown key; did you mean "filter_chains"? (without it: listener "llm_proxy" has no filters)`,
		lineOf(t, typo, "filter_chain:")), err.Error())

	typo = strings.Replace(upstreamStyle, "              http_filters:", "              http_filter:", 1)
	doc, err := Load("typo.yaml", []byte(typo))
	require.NoError(t, err, "a listener without http filters loads (its routes answer 502)")
	w := warningAt(t, doc, "static_resources.listeners[0].filter_chains.filters[0].config.http_filter")
	assert.Equal(t, lineOf(t, typo, "http_filter:"), w.Line)
	assert.Equal(t, `unknown key, ignored; did you mean "http_filters"?`, w.Msg)
}

func TestDurationInWordsSaysWhatIsWantedWithOneLineNumber(t *testing.T) {
	withShutdown := strings.Replace(upstreamStyle, "metric:", "  shutdown_config:\n    timeout: 60 seconds\nmetric:", 1)
	_, err := Load("d.yaml", []byte(withShutdown))
	require.Error(t, err)
	line := lineOf(t, withShutdown, "60 seconds")
	assert.Equal(t, fmt.Sprintf(`d.yaml:%d: static_resources.shutdown_config.timeout: "60 seconds" is not a duration; want a duration like 60s (units: ms, s, m, h)`, line), err.Error())
	assert.Equal(t, 1, strings.Count(err.Error(), fmt.Sprint(line)), "one line number")

	type pluginConfig struct {
		Timeout model.ShutdownConfig `yaml:"shutdown"`
	}
	_, err = Decode(map[string]any{"shutdown": map[string]any{"timeout": 60}}, &pluginConfig{}, "filters[0].config")
	require.Error(t, err)
	assert.Equal(t, `filters[0].config.shutdown.timeout: "60" is not a duration; want a duration like 60s (units: ms, s, m, h)`, err.Error())
}

func TestOtherDecodeErrorsCarryOneLineNumber(t *testing.T) {
	bad := strings.Replace(upstreamStyle, "port: 8888", "port: eighty", 1)
	_, err := Load("n.yaml", []byte(bad))
	require.Error(t, err)
	assert.Regexp(t, fmt.Sprintf("^n.yaml:%d: cannot unmarshal", lineOf(t, bad, "eighty")), err.Error())
	assert.NotContains(t, err.Error(), "line ")
}

func TestConsistentHashSettingsAreCheckedAndNamed(t *testing.T) {
	ring := strings.Replace(upstreamStyle, `lb_policy: "lb"`, "lb_policy: RingHashing\n      consistent: {header: x-session-id, replica_num: 100}", 1)
	doc, err := Load("ring.yaml", []byte(ring))
	require.NoError(t, err)
	assert.Equal(t, model.ConsistentHash{Header: "x-session-id", ReplicaNum: 100}, doc.Bootstrap.StaticResources.Clusters[0].ConsistentHash)

	bad := strings.Replace(upstreamStyle, `lb_policy: "lb"`, "lb_policy: MaglevHashing\n      consistent: {maglev_table_size: 1000}", 1)
	_, err = Load("bad.yaml", []byte(bad))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("bad.yaml:%d: static_resources.clusters[0].consistent: maglev_table_size: 1000 is not a prime", lineOf(t, bad, "consistent:")))

	unused := strings.Replace(upstreamStyle, `lb_policy: "lb"`, "lb_policy: Rand\n      consistent: {header: x-user}", 1)
	doc, err = Load("unused.yaml", []byte(unused))
	require.NoError(t, err)
	w := warningAt(t, doc, "static_resources.clusters[0].consistent")
	assert.Equal(t, "only RingHashing and MaglevHashing use it; lb_policy is Rand", w.Msg)
}
