package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/packages/pagination"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// startModelGateway starts a gateway with three routes under /v1: with "X-Route: ordered" by
// model over the clusters "second" then "first", with "X-Route: chat" a cluster route to "first",
// else by model over every cluster.
func startModelGateway(t testing.TB, clusters ...*model.ClusterConfig) *testGateway {
	t.Helper()
	routeHeader := func(value string) []model.HeaderMatcher {
		return []model.HeaderMatcher{{Name: "X-Route", Values: []string{value}}}
	}
	ordered := &model.Router{Match: model.RouterMatch{Prefix: "/v1", Headers: routeHeader("ordered")},
		Route: model.RouteAction{ModelRouting: true, Clusters: []string{"second", "first"}}}
	chat := gatewayconfig.Route("/v1", "first")
	chat.Match.Headers = routeHeader("chat")
	byModel := &model.Router{Match: model.RouterMatch{Prefix: "/v1"}, Route: model.RouteAction{ModelRouting: true}}
	b := &model.Bootstrap{StaticResources: model.StaticResources{
		Listeners: []*model.Listener{gatewayconfig.Listener("llm", 0, []*model.Router{ordered, chat, byModel},
			gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"}))},
		Clusters:       clusters,
		ShutdownConfig: shutdownConfig,
	}}
	g := gatewaytest.Start(t, gatewayconfig.YAML(b))
	return &testGateway{Gateway: g.Gateway, URL: g.URL("llm"), logs: g.Logs}
}

// openAIAt is an openai-go client of the gateway's /v1 routes; route selects a route by its
// X-Route header.
func openAIAt(t *testing.T, g *testGateway, route string) *openai.Client {
	opts := []option.RequestOption{option.WithBaseURL(g.URL + "/v1/"), option.WithAPIKey(clientKey),
		option.WithMaxRetries(0), option.WithHTTPClient(client(t))}
	if route != "" {
		opts = append(opts, option.WithHeader("X-Route", route))
	}
	c := openai.NewClient(opts...)
	return &c
}

func chatTo(ctx context.Context, c *openai.Client, model string) (string, error) {
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who are you?")},
	})
	if err != nil {
		return "", err
	}
	if len(res.Choices) == 0 {
		return "", errors.New("no choices: " + res.RawJSON())
	}
	return res.Choices[0].Message.Content, nil
}

func modelIDs(page *pagination.Page[openai.Model]) map[string]string {
	out := map[string]string{}
	for _, m := range page.Data {
		out[m.ID] = m.OwnedBy
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCatalogListsTheModelsOfRoutableEndpoints(t *testing.T) {
	ds := llmstub.Start(t, llmstub.WithName("deepseek"))
	gpt := llmstub.Start(t, llmstub.WithName("openai"))
	any := llmstub.Start(t, llmstub.WithName("any"))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin",
			gatewayconfig.Endpoint("ds", ds.Addr(), &model.LLMMeta{HealthCheckInterval: 60000, Models: []string{"deepseek-reasoner", "deepseek-chat"}}),
			gatewayconfig.Endpoint("any", any.Addr(), nil)),
		gatewayconfig.Cluster("second", "RoundRobin",
			gatewayconfig.Endpoint("gpt", gpt.Addr(), &model.LLMMeta{Models: []string{"gpt-4o", "deepseek-chat"}})))
	ctx := testContext(t)

	all, err := openAIAt(t, g, "").Models.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"deepseek-chat": "first", "deepseek-reasoner": "first", "gpt-4o": "second"}, modelIDs(all),
		"every cluster's models, once each, owned by the first cluster in name order")
	var ids []string
	for _, m := range all.Data {
		ids = append(ids, m.ID)
		assert.Equal(t, "model", string(m.Object))
		assert.InDelta(t, time.Now().Unix(), m.Created, 60)
	}
	assert.Equal(t, []string{"deepseek-chat", "deepseek-reasoner", "gpt-4o"}, ids, "sorted")

	ordered, err := openAIAt(t, g, "ordered").Models.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, "second", modelIDs(ordered)["deepseek-chat"], "the route's clusters order decides the owner")

	first, err := openAIAt(t, g, "chat").Models.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"deepseek-chat": "first", "deepseek-reasoner": "first"}, modelIDs(first),
		"a cluster route lists its cluster's models")

	one, err := openAIAt(t, g, "").Models.Get(ctx, "gpt-4o")
	require.NoError(t, err)
	assert.Equal(t, "second", one.OwnedBy)

	_, err = openAIAt(t, g, "").Models.Get(ctx, "gpt-5")
	assertOpenAIError(t, err, http.StatusNotFound, "model_not_found")
	assert.Zero(t, ds.Count()+gpt.Count()+any.Count(), "the catalog is the gateway's own answer")

	// An endpoint cooling down serves nothing right now: its models leave the catalog.
	g.Clusters.Cluster("first").Member("ds").Health.CoolDownUntil(time.Now().Add(time.Minute))
	all, err = openAIAt(t, g, "").Models.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"deepseek-chat": "second", "gpt-4o": "second"}, modelIDs(all))
}

// A route to a cluster that lists no models forwards GET /v1/models upstream, as before the
// catalog existed.
func TestCatalogOfAClusterListingNoModelsIsTheUpstreams(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("plain"), llmstub.WithModel("upstream-model"))
	g := startModelGateway(t, gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("plain", stub.Addr(), nil)),
		gatewayconfig.Cluster("second", "RoundRobin"))
	ctx := testContext(t)

	page, err := openAIAt(t, g, "chat").Models.List(ctx)
	require.NoError(t, err)
	require.Len(t, page.Data, 1)
	assert.Equal(t, "upstream-model", page.Data[0].ID, "the upstream's own list")
	assert.Equal(t, 1, stub.Count(), "forwarded")

	page, err = openAIAt(t, g, "").Models.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, page.Data, "a model_routing route always answers itself")
	assert.Equal(t, 1, stub.Count())
}

func TestModelRoutingSendsEachModelToTheEndpointsListingIt(t *testing.T) {
	ds := llmstub.Start(t, llmstub.WithName("deepseek"))
	ds2 := llmstub.Start(t, llmstub.WithName("deepseek2"))
	gpt := llmstub.Start(t, llmstub.WithName("openai"))
	any := llmstub.Start(t, llmstub.WithName("any"))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin",
			gatewayconfig.Endpoint("any", any.Addr(), nil),
			gatewayconfig.Endpoint("ds", ds.Addr(), &model.LLMMeta{Models: []string{"deepseek-chat"}}),
			gatewayconfig.Endpoint("ds2", ds2.Addr(), &model.LLMMeta{Models: []string{"deepseek-chat", "deepseek-reasoner"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("gpt", gpt.Addr(), &model.LLMMeta{Models: []string{"gpt-4o"}})))
	ctx := testContext(t)
	c := openAIAt(t, g, "")

	answers := map[string]int{}
	for range 6 {
		reply, err := chatTo(ctx, c, "deepseek-chat")
		require.NoError(t, err)
		answers[reply]++
	}
	assert.Equal(t, map[string]int{"Hello from deepseek": 3, "Hello from deepseek2": 3}, answers,
		"round robin over the endpoints listing the model, never the one listing none")
	for model, want := range map[string]string{"deepseek-reasoner": "Hello from deepseek2", "gpt-4o": "Hello from openai"} {
		reply, err := chatTo(ctx, c, model)
		require.NoError(t, err)
		assert.Equal(t, want, reply, model)
	}
	last, ok := gpt.Last()
	require.True(t, ok)
	assert.JSONEq(t, `{"model":"gpt-4o","messages":[{"role":"user","content":"Who are you?"}]}`, string(last.Body),
		"the body goes upstream unchanged")
	assert.Zero(t, any.Count())
}

func TestModelRoutingRefusesWhatItCannotRoute(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("deepseek"))
	g := startModelGateway(t, gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("ds", stub.Addr(), &model.LLMMeta{Models: []string{"deepseek-chat"}})),
		gatewayconfig.Cluster("second", "RoundRobin"))
	ctx := testContext(t)

	_, err := chatTo(ctx, openAIAt(t, g, ""), "gpt-4o")
	assertOpenAIError(t, err, http.StatusNotFound, "model_not_found")
	assert.Contains(t, err.Error(), "The model `gpt-4o` is not served by this route.")

	c := client(t)
	for body, code := range map[string]string{
		``:                                      "model_required",
		`{"messages":[]}`:                       "model_required",
		`{"model":7}`:                           "model_required",
		`{"model":"deepseek-chat"`:              "invalid_request_body",
		`{"model":"a","model":"deepseek-chat"}`: "invalid_request_body",
		`not json`:                              "invalid_request_body",
	} {
		r := post(t, c, g.URL+"/v1/chat/completions", body)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
		assert.Contains(t, r.body, `"code":"`+code+`"`, body)
		assert.Contains(t, r.body, `"type":"invalid_request_error"`, body)
	}
	assert.Zero(t, stub.Count(), "nothing went upstream")
}

func TestModelRoutingFallsBackIntoTheNextClusterServingTheModel(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(http.StatusServiceUnavailable)))
	b := llmstub.Start(t, llmstub.WithName("b"))
	only := llmstub.Start(t, llmstub.WithName("only-first"), llmstub.WithDefault(llmstub.Status(http.StatusServiceUnavailable)))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin",
			gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{Fallback: true, Models: []string{"shared"}}),
			gatewayconfig.Endpoint("only", only.Addr(), &model.LLMMeta{Fallback: true, Models: []string{"unshared"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("b", b.Addr(), &model.LLMMeta{Models: []string{"shared"}})))
	ctx := testContext(t)

	reply, err := chatTo(ctx, openAIAt(t, g, ""), "shared")
	require.NoError(t, err)
	assert.Equal(t, "Hello from b", reply, "first (name order) failed, second answered")
	assert.Equal(t, 1, a.Count())
	assert.Equal(t, 1.0, g.scrape(t).Sum("pixiu_llm_fallbacks_total", map[string]string{"cluster": "first", "endpoint": "a"}))
	assert.Equal(t, 1.0, g.scrape(t).Sum("pixiu_llm_requests_total", map[string]string{"cluster": "second", "endpoint": "b", "code": "2xx"}))

	// The route's order puts second first: first is never asked.
	reply, err = chatTo(ctx, openAIAt(t, g, "ordered"), "shared")
	require.NoError(t, err)
	assert.Equal(t, "Hello from b", reply)
	assert.Equal(t, 1, a.Count())

	// A model only one cluster serves does not fall back into another one.
	_, err = chatTo(ctx, openAIAt(t, g, ""), "unshared")
	assertOpenAIError(t, err, http.StatusServiceUnavailable, "")
	assert.Equal(t, 1, only.Count())
	assert.Equal(t, 2, b.Count())
}

func TestModelRoutingWithoutFallbackStaysInItsCluster(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithDefault(llmstub.Status(http.StatusServiceUnavailable)))
	b := llmstub.Start(t, llmstub.WithName("b"))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{Models: []string{"shared"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("b", b.Addr(), &model.LLMMeta{Models: []string{"shared"}})))

	_, err := chatTo(testContext(t), openAIAt(t, g, ""), "shared")
	assertOpenAIError(t, err, http.StatusServiceUnavailable, "")
	assert.Zero(t, b.Count(), "fallback is off on first's endpoint")
}

func TestModelRoutingPrefersAClusterThatIsNotCoolingDown(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"))
	b := llmstub.Start(t, llmstub.WithName("b"))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("a", a.Addr(), &model.LLMMeta{Models: []string{"shared"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("b", b.Addr(), &model.LLMMeta{Models: []string{"shared"}})))
	g.Clusters.Cluster("first").Member("a").Health.CoolDownUntil(time.Now().Add(time.Minute))

	reply, err := chatTo(testContext(t), openAIAt(t, g, ""), "shared")
	require.NoError(t, err)
	assert.Equal(t, "Hello from b", reply)
	assert.Zero(t, a.Count())
}

func TestModelRoutingStreams(t *testing.T) {
	const chunks, interval = 5, 100 * time.Millisecond
	ds := llmstub.Start(t, llmstub.WithName("deepseek"), llmstub.WithStream(chunks, interval))
	gpt := llmstub.Start(t, llmstub.WithName("openai"))
	g := startModelGateway(t,
		gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("ds", ds.Addr(), &model.LLMMeta{Models: []string{"deepseek-chat"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("gpt", gpt.Addr(), &model.LLMMeta{Models: []string{"gpt-4o"}})))

	text, arrivals, usage, err := readStream(openAIAt(t, g, "").Chat.Completions.NewStreaming(testContext(t), openai.ChatCompletionNewParams{
		Model:         "deepseek-chat",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who are you?")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(text, "Hello from deepseek"), text)
	require.Len(t, arrivals, chunks)
	assert.Greater(t, arrivals[chunks-1].Sub(arrivals[0]), time.Duration(chunks-2)*interval, "chunks arrive as they are sent")
	assert.Positive(t, usage)
	assert.Zero(t, gpt.Count())
}

// assertOpenAIError checks that err is an OpenAI API error with the status and, if not empty,
// the code.
func assertOpenAIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, status, apiErr.StatusCode)
	if code != "" {
		assert.Equal(t, code, apiErr.Code)
	}
}
