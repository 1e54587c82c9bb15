package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modelsYAML is a config with two clusters; %s is the route's action and %s the extra
// static_resources keys (adapters).
const modelsYAML = `static_resources:
  listeners:
    - name: l
      address: {socket_address: {port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {prefix: /v1}
                    route: %s
  clusters:
    - name: a
      endpoints:
        - id: a1
          socket_address: {address: 127.0.0.1, port: 1}
          llm_meta: {models: %s}
    - name: b
      endpoints: [{id: b1, socket_address: {address: 127.0.0.1, port: 2}}]
%s`

func TestModelRoutingConfigLoads(t *testing.T) {
	doc, err := Load("ok.yaml", fmt.Appendf(nil, modelsYAML, "{model_routing: true, clusters: [b, a]}", "[deepseek-chat, deepseek-reasoner]", ""))
	require.NoError(t, err)
	assert.Empty(t, doc.Warnings)
	ep := doc.Bootstrap.StaticResources.Clusters[0].Endpoints[0]
	assert.Equal(t, []string{"deepseek-chat", "deepseek-reasoner"}, ep.LLMMeta.Models)
}

func TestModelConfigErrors(t *testing.T) {
	const adapters = "  adapters: [{id: reg, name: dgp.adapter.llmregistrycenter}]\n"
	for _, tc := range []struct {
		name          string
		route, models string
		line          int
		want          []string
	}{
		{"empty model name", "{cluster: a}", `[x, ""]`, 18,
			[]string{"clusters[0].endpoints[0].llm_meta.models", "model 2 is empty", `endpoint "a1"`}},
		{"duplicate model", "{cluster: a}", "[x, y, x]", 18,
			[]string{"llm_meta.models", `model "x" is listed twice`}},
		{"model_routing with cluster", "{model_routing: true, cluster: a}", "[x]", 12,
			[]string{"routes[0].route.cluster", "model_routing: true picks its cluster by model"}},
		{"clusters without model_routing", "{cluster: a, clusters: [a]}", "[x]", 12,
			[]string{"routes[0].route.clusters", "only used with model_routing: true"}},
		{"unknown cluster in clusters", "{model_routing: true, clusters: [a, nope]}", "[x]", 12,
			[]string{"routes[0].route.clusters[1]", `cluster "nope" is not defined`, "no adapter"}},
		{"cluster listed twice", "{model_routing: true, clusters: [a, a]}", "[x]", 12,
			[]string{"routes[0].route.clusters[1]", `cluster "a" is listed twice`}},
		{"neither cluster nor model_routing", "{cluster_not_found_response_code: 503}", "[x]", 12,
			[]string{"routes[0].route.cluster", "model_routing: true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("bad.yaml", fmt.Appendf(nil, modelsYAML, tc.route, tc.models, ""))
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, tc.line, cerr.Line, err.Error())
		})
	}

	t.Run("unknown cluster with an adapter", func(t *testing.T) {
		doc, err := Load("dyn.yaml", fmt.Appendf(nil, modelsYAML, "{model_routing: true, clusters: [a, from-registry]}", "[x]", adapters))
		require.NoError(t, err)
		require.Len(t, doc.Warnings, 1)
		w := doc.Warnings[0]
		assert.True(t, w.Info)
		assert.Equal(t, 12, w.Line)
		assert.Contains(t, w.Path, "routes[0].route.clusters[1]")
		assert.Contains(t, w.Msg, `cluster "from-registry" is not defined statically; its models are not routed until an adapter provides it`)
	})
}
