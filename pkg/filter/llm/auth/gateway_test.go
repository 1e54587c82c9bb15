package auth_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/auth"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

const (
	consumerKey = "consumer-key-team-a-6c1f0e9b"
	rotatedKey  = "consumer-key-team-a-rotated-77d2"
	providerKey = "provider-key-keyed-0a93be51"
)

// authConfig routes /v1 with "X-Cluster: keyless" to the cluster keyless and the rest of /v1 to
// keyed, through the auth filter (team-a holds consumerKey, and rotatedKey by its digest) and the
// proxy; the access log, metrics and the admin API are on.
func authConfig(keyedAddr, keylessAddr string) string {
	keylessRoute := gatewayconfig.Route("/v1", "keyless")
	keylessRoute.Match.Headers = []model.HeaderMatcher{{Name: "X-Cluster", Values: []string{"keyless"}}}
	consumers := auth.Config{Consumers: []auth.ConsumerConfig{
		{Name: "team-a", Keys: []string{consumerKey}, KeySHA256: []string{auth.DigestOf(rotatedKey)}},
	}}
	llm := gatewayconfig.Listener("llm", 0, []*model.Router{keylessRoute, gatewayconfig.Route("/v1", "keyed")},
		gatewayconfig.Filter("dgp.filter.llm.auth", consumers),
		gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"}))
	llm.Config.AccessLog = model.AccessLog{Enabled: true, Format: "json"}
	return gatewayconfig.YAML(&model.Bootstrap{
		StaticResources: model.StaticResources{
			Listeners: []*model.Listener{llm},
			Clusters: []*model.ClusterConfig{
				gatewayconfig.Cluster("keyed", "", gatewayconfig.DomainEndpoint("keyed", keyedAddr, &model.LLMMeta{APIKey: providerKey})),
				gatewayconfig.Cluster("keyless", "", gatewayconfig.DomainEndpoint("keyless", keylessAddr, nil)),
			},
		},
		Metric: model.Metric{Enable: true},
		Admin:  model.Admin{Enable: true, Address: "127.0.0.1:0"},
	})
}

type reply struct {
	status int
	body   string
}

func send(t *testing.T, url string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"model":"stub-model","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, string(b)}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestConsumerKeys(t *testing.T) {
	keyed := llmstub.Start(t, llmstub.WithName("keyed"), llmstub.WithAPIKey(providerKey))
	keyless := llmstub.Start(t, llmstub.WithName("keyless"))
	g := gatewaytest.Start(t, authConfig(keyed.Addr(), keyless.Addr()))
	base := g.URL("llm")

	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no key", nil},
		{"wrong key", []string{"Authorization", "Bearer consumer-key-team-b-00000000"}},
		{"truncated key", []string{"Authorization", "Bearer " + consumerKey[:len(consumerKey)-1]}},
		{"truncated x-api-key", []string{"X-Api-Key", consumerKey[:10]}},
		{"provider key", []string{"Authorization", "Bearer " + providerKey}},
		{"digest instead of key", []string{"Authorization", "Bearer " + auth.DigestOf(rotatedKey)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, base, tc.header...)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Contains(t, r.body, `"type":"invalid_request_error"`)
			assert.Contains(t, r.body, `"code":"invalid_api_key"`)
		})
	}
	assert.Zero(t, keyed.Count()+keyless.Count(), "nothing was forwarded without a valid key")

	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"bearer", []string{"Authorization", "Bearer " + consumerKey}},
		{"x-api-key", []string{"X-Api-Key", consumerKey}},
		{"rotated key given as a digest", []string{"Authorization", "Bearer " + rotatedKey, "X-Api-Key", consumerKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, base, tc.header...)
			require.Equal(t, http.StatusOK, r.status, r.body)
			up, ok := keyed.Last()
			require.True(t, ok)
			assert.Equal(t, "Bearer "+providerKey, up.Header.Get("Authorization"), "the endpoint's own key goes upstream")
			assert.Empty(t, up.Header.Values("X-Api-Key"))
			assertNoConsumerKey(t, up.Header)
		})
	}

	// An endpoint without a key of its own gets no key at all: not the consumer's.
	r := send(t, base, "Authorization", "Bearer "+consumerKey, "X-Cluster", "keyless")
	require.Equal(t, http.StatusOK, r.status, r.body)
	up, ok := keyless.Last()
	require.True(t, ok)
	assert.Empty(t, up.Header.Values("Authorization"))
	assertNoConsumerKey(t, up.Header)

	scrape := get(t, "http://"+g.MetricsAddr().String()+"/metrics")
	assert.Contains(t, scrape, `pixiu_consumer_requests_total{code="2xx",consumer="team-a"} 4`)
	assert.Contains(t, scrape, `pixiu_auth_rejected_total{reason="missing"} 1`)
	assert.Contains(t, scrape, `pixiu_auth_rejected_total{reason="invalid"} 5`)
	admin := "http://" + g.AdminAddr().String()
	adminOut := get(t, admin+"/admin/consumers") + get(t, admin+"/admin/clusters") + get(t, admin+"/admin/registries")
	assert.Contains(t, adminOut, `"name": "team-a"`)
	assert.Contains(t, adminOut, `"keys": 2`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))
	logs := g.Logs.String() // gatewaytest captures from debug level up
	assert.Contains(t, logs, `"consumer":"team-a"`, "the access log names the consumer")
	for where, out := range map[string]string{"logs": logs, "/metrics": scrape, "admin API": adminOut} {
		for _, key := range []string{consumerKey, rotatedKey, providerKey} {
			assert.NotContains(t, out, key, "%s show a key", where)
		}
	}
}

func assertNoConsumerKey(t *testing.T, h http.Header) {
	t.Helper()
	for name, values := range h {
		for _, v := range values {
			for _, key := range []string{consumerKey, rotatedKey} {
				assert.NotContains(t, v, key, "header %s carries a consumer key upstream", name)
			}
		}
	}
}
