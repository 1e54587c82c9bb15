package compat

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Upstream's hashing policies keep one conversation on one provider through the gateway, and
// spread conversations over the providers.
func TestHashingPoliciesKeepAConversationOnOneProviderThroughTheGateway(t *testing.T) {
	for _, policy := range []string{"RingHashing", "maglev_hashing"} {
		t.Run(policy, func(t *testing.T) {
			stubs := make([]*llmstub.Stub, 3)
			cluster := gatewayconfig.Cluster("chat", policy)
			cluster.ConsistentHash.Header = "x-session-id"
			for i := range stubs {
				stubs[i] = llmstub.Start(t, llmstub.WithName(fmt.Sprintf("p%d", i)))
				cluster.Endpoints = append(cluster.Endpoints, gatewayconfig.Endpoint(fmt.Sprintf("p%d", i), stubs[i].Addr(), nil))
			}
			g := gatewaytest.Start(t, gatewayconfig.OneRoute{Clusters: []*model.ClusterConfig{cluster}}.YAML())
			answeredBy := func(session string) string {
				req, err := http.NewRequest(http.MethodPost, g.URL("llm")+"/v1/chat/completions",
					strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				require.NoError(t, err)
				req.Header.Set("X-Session-Id", session)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				for _, s := range stubs {
					if rec, ok := s.Last(); ok && rec.Header.Get("X-Session-Id") == session {
						return s.Name()
					}
				}
				return ""
			}
			first := answeredBy("conversation-a")
			for i := 0; i < 10; i++ {
				assert.Equal(t, first, answeredBy("conversation-a"), "turn %d of one conversation", i)
			}
			providers := map[string]bool{}
			for i := 0; i < 30; i++ {
				providers[answeredBy(fmt.Sprintf("conversation-%d", i))] = true
			}
			assert.Greater(t, len(providers), 1, "conversations spread over the providers")
		})
	}
}
