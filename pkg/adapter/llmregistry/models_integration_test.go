package llmregistry_test

// Integration tests of the model catalog and routing by model: providers register in a real
// Nacos-protocol registry with llm-meta.models, and the official openai-go client talks to one
// base URL of the gateway.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// startModelRoutingGateway starts a gateway routing /v1 by model over the clusters the registry
// at addr provides in group, watched over tg; with the header "X-Route: ordered", over
// "primary" then "secondary".
func startModelRoutingGateway(t *testing.T, tg target, addr, group string) *gatewaytest.Gateway {
	ordered := &model.Router{
		Match: model.RouterMatch{Prefix: "/v1", Headers: []model.HeaderMatcher{{Name: "X-Route", Values: []string{"ordered"}}}},
		Route: model.RouteAction{ModelRouting: true, Clusters: []string{"primary", "secondary"}},
	}
	byModel := &model.Router{Match: model.RouterMatch{Prefix: "/v1"}, Route: model.RouteAction{ModelRouting: true}}
	return gatewaytest.Start(t, gatewayconfig.OneRoute{
		Routes:   []*model.Router{ordered, byModel},
		Filters:  proxyFilter,
		Adapters: []*model.Adapter{tg.registry().adapter(addr, group)},
	}.YAML())
}

// modelClient is an openai-go client of a model-routing gateway, with one base URL.
func modelClient(t *testing.T, baseURL string, opts ...option.RequestOption) *openai.Client {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(baseURL + "/v1/"), option.WithAPIKey("sk-client-placeholder"), option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: transport, Timeout: 15 * time.Second}),
	}, opts...)...)
	return &c
}

// listModels returns the ids models.list() answers, sorted as the gateway sends them.
func listModels(ctx context.Context, c *openai.Client) ([]string, error) {
	page, err := c.Models.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

func chatReply(ctx context.Context, c *openai.Client, model string) (string, error) {
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who are you?")},
	})
	if err != nil {
		return "", err
	}
	if len(res.Choices) == 0 {
		return "", fmt.Errorf("no choices in %s", res.RawJSON())
	}
	return res.Choices[0].Message.Content, nil
}

func waitForModels(t *testing.T, ctx context.Context, c *openai.Client, want []string) {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		ids, err := listModels(ctx, c)
		got = ids
		return err == nil && slices.Equal(ids, want)
	}, discoveryBound, poll, "models.list() = %v, want %v", got, want)
}

func modelCatalogAndRoutingFollowTheRegistry(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	deepseek := llmstub.Start(t, llmstub.WithName("deepseek"))
	openaiStub := llmstub.Start(t, llmstub.WithName("openai"))
	qwen := llmstub.Start(t, llmstub.WithName("qwen"))
	g := startModelRoutingGateway(t, tg, addr, group)
	c := modelClient(t, g.URL("llm"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*discoveryBound)
	defer cancel()

	p := newProvider(t, tg, addr, group)
	p.register("llm-deepseek", deepseek, meta("cluster", "deepseek", "id", "deepseek", "llm-meta.models", "deepseek-chat,deepseek-reasoner"))
	p.register("llm-openai", openaiStub, meta("cluster", "openai", "id", "openai", "llm-meta.models", "gpt-4o, gpt-4o-mini"))
	p.register("llm-qwen", qwen, meta("cluster", "qwen", "id", "qwen", "llm-meta.models", "qwen-max"))
	began := time.Now()
	waitForModels(t, ctx, c, []string{"deepseek-chat", "deepseek-reasoner", "gpt-4o", "gpt-4o-mini", "qwen-max"})
	latency(t, "three providers register → models.list() lists their models", time.Since(began))

	model, err := c.Models.Get(ctx, "gpt-4o-mini")
	require.NoError(t, err)
	assert.Equal(t, "openai", model.OwnedBy, "owned by the cluster serving it")

	for name, want := range map[string]string{
		"deepseek-chat": "Hello from deepseek", "deepseek-reasoner": "Hello from deepseek",
		"gpt-4o": "Hello from openai", "qwen-max": "Hello from qwen",
	} {
		reply, err := chatReply(ctx, c, name)
		require.NoError(t, err, name)
		assert.Equal(t, want, reply, "%s lands on the provider serving it", name)
	}

	before := deepseek.Count() + openaiStub.Count() + qwen.Count()
	_, err = chatReply(ctx, c, "gpt-5")
	assertModelNotFound(t, err)
	assert.Equal(t, before, deepseek.Count()+openaiStub.Count()+qwen.Count(), "no upstream call for an unknown model")

	began = time.Now()
	p.deregister("llm-qwen", qwen)
	waitForModels(t, ctx, c, []string{"deepseek-chat", "deepseek-reasoner", "gpt-4o", "gpt-4o-mini"})
	latency(t, "provider leaves → its model leaves models.list()", time.Since(began))
	_, err = chatReply(ctx, c, "qwen-max")
	assertModelNotFound(t, err)
}

func modelRoutingFallsBackAcrossClustersAndStreams(t *testing.T, tg target) {
	addr := tg.sharedAddr(t)
	group := uniqueGroup(t)
	primary := llmstub.Start(t, llmstub.WithName("primary"), llmstub.WithStream(4, 50*time.Millisecond))
	secondary := llmstub.Start(t, llmstub.WithName("secondary"), llmstub.WithStream(4, 50*time.Millisecond))
	g := startModelRoutingGateway(t, tg, addr, group)
	c := modelClient(t, g.URL("llm"), option.WithHeader("X-Route", "ordered"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*discoveryBound)
	defer cancel()

	p := newProvider(t, tg, addr, group)
	p.register("llm-primary", primary, meta("cluster", "primary", "id", "primary", "llm-meta.models", "shared-model",
		"llm-meta.fallback", "true"))
	p.register("llm-secondary", secondary, meta("cluster", "secondary", "id", "secondary", "llm-meta.models", "shared-model"))
	require.Eventually(t, func() bool {
		return g.Clusters.Cluster("primary") != nil && g.Clusters.Cluster("secondary") != nil &&
			g.Clusters.Cluster("primary").ForModel("shared-model") != nil && g.Clusters.Cluster("secondary").ForModel("shared-model") != nil
	}, discoveryBound, poll)

	reply, err := chatReply(ctx, c, "shared-model")
	require.NoError(t, err)
	assert.Equal(t, "Hello from primary", reply, "the route's clusters order: primary first")

	primary.SetDefault(llmstub.Status(http.StatusServiceUnavailable))
	before := primary.Count()
	reply, err = chatReply(ctx, c, "shared-model")
	require.NoError(t, err)
	assert.Equal(t, "Hello from secondary", reply, "primary failed; fallback went on to the next cluster serving the model")
	assert.Equal(t, before+1, primary.Count())

	// Streaming on a model-routed route, chunk by chunk, from the cluster that answered.
	primary.SetDefault(llmstub.OK())
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "shared-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who are you?")},
	})
	defer stream.Close()
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			text.WriteString(ch.Choices[0].Delta.Content)
			chunks++
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, 4, chunks)
	assert.True(t, strings.HasPrefix(text.String(), "Hello from primary"), text.String())
}

func assertModelNotFound(t *testing.T, err error) {
	t.Helper()
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, "model_not_found", apiErr.Code)
}
