package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/packages/ssestream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/auth"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Consumer keys of the limits tests, by consumer.
var limitedKeys = map[string]string{
	"metered":  "consumer-key-metered-5be01c2d",
	"paced":    "consumer-key-paced-93a4e7f0",
	"streamer": "consumer-key-streamer-0c6d81aa",
	"free":     "consumer-key-free-d2f95b13",
}

// The stub's usage is the words of the prompt plus the three of its reply ("Hello from stub").
// metered's limit is 600 tokens per minute (10 per second): a first request of 630 tokens
// overdraws it by 30, which the refill pays back in 3 s. streamer's limit of 5 tokens is
// overdrawn by any answer, for a minute or so.
func limitsConfig(stubAddr string) string {
	consumer := func(name string, limits limit.Limits) auth.ConsumerConfig {
		return auth.ConsumerConfig{Name: name, Keys: []string{limitedKeys[name]}, Limits: limits}
	}
	consumers := auth.Config{Consumers: []auth.ConsumerConfig{
		consumer("metered", limit.Limits{TokensPerMinute: 600}),
		consumer("paced", limit.Limits{RequestsPerMinute: 2}),
		consumer("streamer", limit.Limits{TokensPerMinute: 5}),
		consumer("free", limit.Limits{}),
	}}
	return gatewayconfig.OneRoute{
		Filters: []*model.HTTPFilter{
			gatewayconfig.Filter("dgp.filter.llm.auth", consumers),
			gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"}),
		},
		Listener: model.HTTPListenerConfig{AccessLog: model.AccessLog{Enabled: true, Format: "json"}},
		Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("chat", "", gatewayconfig.DomainEndpoint("stub", stubAddr, nil))},
		Metrics:  true,
	}.YAML()
}

func startLimitsGateway(t *testing.T) (*gatewaytest.Gateway, *llmstub.Stub) {
	t.Helper()
	stub := llmstub.Start(t, llmstub.WithName("stub"))
	g := gatewaytest.Start(t, limitsConfig(stub.Addr()))
	return g, stub
}

// consumerClient is an openai-go client of the gateway with a consumer's key; it does not retry,
// so that the test sees every 429.
func consumerClient(g *gatewaytest.Gateway, consumer string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(g.URL("llm")+"/v1/"),
		option.WithAPIKey(limitedKeys[consumer]),
		option.WithMaxRetries(0),
	)
}

// prompt is a chat request whose prompt is words tokens long, as the stub counts.
func prompt(words int) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "stub-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.TrimSpace(strings.Repeat("word ", words)))},
	}
}

// refusal returns the 429 of err, its Retry-After in whole seconds, and checks OpenAI's shape.
func refusal(t *testing.T, err error, limitType string) (*openai.Error, int) {
	t.Helper()
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "want an API error, got %v", err)
	require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode, apiErr.Message)
	assert.Equal(t, limitType, apiErr.Type)
	assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
	assert.Contains(t, apiErr.Message, limitType+"_per_minute")
	retryAfter, convErr := strconv.Atoi(apiErr.Response.Header.Get("Retry-After"))
	require.NoError(t, convErr, "Retry-After is a number of seconds")
	t.Logf("429 Retry-After: %ds: %s", retryAfter, apiErr.Message)
	return apiErr, retryAfter
}

// waitCharged waits until the gateway has counted tokens for consumer: the limiter is charged
// before the metric moves. A stream reaches the client before the gateway has finished with it.
func waitCharged(t *testing.T, g *gatewaytest.Gateway, consumer string, tokens int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		scrape := metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
		return scrape.Value(t, "pixiu_consumer_tokens_total", metricstest.Labels{"consumer": consumer, "kind": "total"}) >= float64(tokens)
	}, 5*time.Second, 10*time.Millisecond, "%s charged %d tokens", consumer, tokens)
}

func TestTokensPerMinuteRefusesUntilTheDebtIsPaid(t *testing.T) {
	g, stub := startLimitsGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := consumerClient(g, "metered")

	first, err := c.Chat.Completions.New(ctx, prompt(627))
	require.NoError(t, err, "a full bucket serves a request of any size")
	require.EqualValues(t, 630, first.Usage.TotalTokens)
	waitCharged(t, g, "metered", 630)

	upstream := stub.Count()
	_, err = c.Chat.Completions.New(ctx, prompt(1))
	_, retryAfter := refusal(t, err, "tokens")
	assert.Equal(t, upstream, stub.Count(), "a refused request makes no upstream call")
	assert.GreaterOrEqual(t, retryAfter, 1)
	assert.LessOrEqual(t, retryAfter, 3, "30 tokens over at 10 per second")

	time.Sleep(time.Duration(retryAfter) * time.Second)
	again, err := c.Chat.Completions.New(ctx, prompt(1))
	require.NoError(t, err, "served again once Retry-After has passed")
	assert.Equal(t, "Hello from stub", again.Choices[0].Message.Content)

	scrape := metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
	assert.Equal(t, 1.0, scrape.Value(t, "pixiu_consumer_limited_total", metricstest.Labels{"consumer": "metered", "limit": "tokens_per_minute"}))
	assert.Equal(t, 1.0, scrape.Value(t, "pixiu_consumer_requests_total", metricstest.Labels{"consumer": "metered", "code": "4xx"}))
	assert.Equal(t, 2.0, scrape.Value(t, "pixiu_consumer_requests_total", metricstest.Labels{"consumer": "metered", "code": "2xx"}))
	assertNoKeyShown(t, g)
}

func TestRequestsPerMinuteRefusesTheThirdRequest(t *testing.T) {
	g, stub := startLimitsGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	paced, free := consumerClient(g, "paced"), consumerClient(g, "free")

	for i := range 2 {
		_, err := paced.Chat.Completions.New(ctx, prompt(2))
		require.NoError(t, err, "request %d of 2 per minute", i+1)
	}
	upstream := stub.Count()
	_, err := paced.Chat.Completions.New(ctx, prompt(2))
	_, retryAfter := refusal(t, err, "requests")
	assert.Equal(t, upstream, stub.Count(), "a refused request makes no upstream call")
	assert.GreaterOrEqual(t, retryAfter, 1)
	assert.LessOrEqual(t, retryAfter, 30, "one request refills every 30 s")

	for i := range 5 {
		_, err := free.Chat.Completions.New(ctx, prompt(2))
		require.NoError(t, err, "a consumer without limits, request %d", i+1)
	}
	scrape := metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
	assert.Equal(t, 1.0, scrape.Value(t, "pixiu_consumer_limited_total", metricstest.Labels{"consumer": "paced", "limit": "requests_per_minute"}))
	assert.Equal(t, 0.0, scrape.Sum("pixiu_consumer_limited_total", metricstest.Labels{"consumer": "free"}))
	assertNoKeyShown(t, g)
}

// A stream reports usage only when asked; for a consumer with a tokens limit the gateway asks
// on the client's behalf, charges the usage, and the client receives the usage chunk too.
func TestStreamUsageIsChargedWithoutTheClientAsking(t *testing.T) {
	g, stub := startLimitsGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	streamer, free := consumerClient(g, "streamer"), consumerClient(g, "free")
	text, usage, err := readStream(streamer.Chat.Completions.NewStreaming(ctx, prompt(3)))
	require.NoError(t, err)
	assert.Equal(t, "Hello from stub", text)
	assert.EqualValues(t, 6, usage, "the client received the usage chunk")
	up, ok := stub.Last()
	require.True(t, ok)
	assert.Contains(t, string(up.Body), `"stream_options":{"include_usage":true}`)
	waitCharged(t, g, "streamer", 6)

	_, err = streamer.Chat.Completions.New(ctx, prompt(1))
	refusal(t, err, "tokens")

	// A consumer without a tokens limit gets its stream as it asked for it.
	text, usage, err = readStream(free.Chat.Completions.NewStreaming(ctx, prompt(3)))
	require.NoError(t, err)
	assert.Equal(t, "Hello from stub", text)
	assert.Zero(t, usage, "no usage chunk the client did not ask for")
	up, ok = stub.Last()
	require.True(t, ok)
	assert.NotContains(t, string(up.Body), "stream_options")
	assertNoKeyShown(t, g)
}

// readStream reads a streamed chat completion to its end: its content and the total tokens of
// its usage chunk (0 without one).
func readStream(stream *ssestream.Stream[openai.ChatCompletionChunk]) (text string, usage int64, err error) {
	defer stream.Close()
	for stream.Next() {
		chunk := stream.Current()
		if len(chunk.Choices) > 0 {
			text += chunk.Choices[0].Delta.Content
		}
		usage = max(usage, chunk.Usage.TotalTokens)
	}
	return text, usage, stream.Err()
}

// assertNoKeyShown checks that no consumer key is in the gateway's log, access log or metrics.
func assertNoKeyShown(t *testing.T, g *gatewaytest.Gateway) {
	t.Helper()
	scrape := get(t, "http://"+g.MetricsAddr().String()+"/metrics")
	logs := g.Logs.String()
	assert.Contains(t, logs, `"status":429`, "the access log has the refusals")
	for consumer, key := range limitedKeys {
		assert.NotContains(t, logs, key, "the log shows %s's key", consumer)
		assert.NotContains(t, scrape, key, "/metrics shows %s's key", consumer)
	}
}
