package tokenizer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	"github.com/pixiu-llm/gateway/pkg/model"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

const upstreamKey = "sk-tokenizer-test-upstream-5e1f"

var proxy = gatewayconfig.Proxy(map[string]any{"timeout": "5s"})

func tokenizer(log bool) *model.HTTPFilter {
	return gatewayconfig.Filter("dgp.filter.llm.tokenizer", map[string]any{"log_to_console": log})
}

// filtersAfter is upstream's order: the tokenizer after the proxy, which answers every request.
func filtersAfter(log bool) []*model.HTTPFilter { return []*model.HTTPFilter{proxy, tokenizer(log)} }

func filtersBefore(log bool) []*model.HTTPFilter { return []*model.HTTPFilter{tokenizer(log), proxy} }

type gateway struct {
	*gatewaytest.Gateway
	url string
}

// startGateway runs a gateway with metrics on whose /v1 route goes through filters to the
// cluster chat of endpoints.
func startGateway(t testing.TB, filters []*model.HTTPFilter, endpoints ...*model.Endpoint) *gateway {
	t.Helper()
	g := gatewaytest.Start(t, gatewayconfig.OneRoute{
		Filters: filters, Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("chat", "", endpoints...)}, Metrics: true,
	}.YAML())
	return &gateway{Gateway: g, url: g.URL("llm")}
}

func (g *gateway) scrape(t *testing.T) *metricstest.Scrape {
	return metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
}

func (g *gateway) openAI(t *testing.T) openai.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey("sk-client-key-not-forwarded"),
		option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}))
}

// splitUsageUpstream streams a completion whose last event carries the usage, and writes that
// event in three pieces with a pause in between, so the gateway reads it split over reads.
func splitUsageUpstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		send := func(s string) {
			_, _ = io.WriteString(w, s)
			_ = rc.Flush()
			time.Sleep(20 * time.Millisecond)
		}
		for _, word := range []string{"Hello", " from", " split"} {
			send(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"split-model","choices":[{"index":0,"delta":{"content":"` + word + `"}}],"usage":null}` + "\n\n")
		}
		usage := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"split-model","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}` + "\n\n"
		cut1, cut2 := strings.Index(usage, `"usage"`)+3, strings.Index(usage, `"completion_tokens"`)+5
		send(usage[:cut1])
		send(usage[cut1:cut2])
		send(usage[cut2:])
		send("data: [DONE]\n\n")
	}))
	t.Cleanup(s.Close)
	return s
}

func streamCompletion(t *testing.T, c openai.Client) (text string, usage openai.CompletionUsage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "split-model",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	for stream.Next() {
		chunk := stream.Current()
		if len(chunk.Choices) > 0 {
			text += chunk.Choices[0].Delta.Content
		}
		if chunk.Usage.TotalTokens > 0 {
			usage = chunk.Usage
		}
	}
	require.NoError(t, stream.Err())
	return text, usage
}

func unaryCompletion(t *testing.T, c openai.Client) *openai.ChatCompletion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "stub-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hi")},
	})
	require.NoError(t, err)
	return res
}

// The tokenizer counts the usage of a unary and of a streamed completion (whose usage comes in
// the final chunk, split over reads) by cluster, endpoint and model, under upstream Pixiu's
// metric names, standing after the proxy (as upstream's samples place it) or before it.
func TestTokenizerCountsUnaryAndStreamedTokensUnderUpstreamNamesBeforeOrAfterTheProxy(t *testing.T) {
	for name, filters := range map[string][]*model.HTTPFilter{"after the proxy": filtersAfter(false), "before the proxy": filtersBefore(false)} {
		t.Run(name, func(t *testing.T) {
			stub := llmstub.Start(t, llmstub.WithName("unary"))
			split := splitUsageUpstream(t)
			unaryGW := startGateway(t, filters, gatewayconfig.Endpoint("unary", stub.Addr(), nil))
			streamGW := startGateway(t, filters, gatewayconfig.Endpoint("stream", split.Listener.Addr().String(), nil))

			res := unaryCompletion(t, unaryGW.openAI(t))
			require.Positive(t, res.Usage.TotalTokens)
			s := unaryGW.scrape(t)
			labels := metricstest.Labels{"cluster_name": "chat", "endpoint_id": "unary", "model": "stub-model"}
			assert.Equal(t, float64(res.Usage.PromptTokens), s.Value(t, "pixiu_llm_prompt_tokens_total", labels))
			assert.Equal(t, float64(res.Usage.CompletionTokens), s.Value(t, "pixiu_llm_completion_tokens_total", labels))
			assert.Equal(t, float64(res.Usage.TotalTokens), s.Value(t, "pixiu_llm_total_tokens_total", labels))

			text, usage := streamCompletion(t, streamGW.openAI(t))
			assert.Equal(t, "Hello from split", text, "the stream reached the client whole")
			require.Equal(t, int64(14), usage.TotalTokens, "the client got the split usage chunk intact")
			s = streamGW.scrape(t)
			labels = metricstest.Labels{"cluster_name": "chat", "endpoint_id": "stream", "model": "split-model"}
			assert.Equal(t, 11.0, s.Value(t, "pixiu_llm_prompt_tokens_total", labels))
			assert.Equal(t, 3.0, s.Value(t, "pixiu_llm_completion_tokens_total", labels))
			assert.Equal(t, 14.0, s.Value(t, "pixiu_llm_total_tokens_total", labels))
			assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_requests_success_total",
				metricstest.Labels{"cluster_name": "chat", "endpoint_id": "stream", "endpoint_address": split.Listener.Addr().String(), "status_code": "200"}))
			assert.Positive(t, s.Value(t, "pixiu_llm_total_duration_microseconds_sum_total", metricstest.Labels{"cluster_name": "chat", "status_code": "200"}))
		})
	}
}

// Each endpoint a request tried counts once: the one that failed and the one that answered.
func TestTokenizerCountsEveryEndpointTried(t *testing.T) {
	failing := llmstub.Start(t, llmstub.WithName("failing"), llmstub.WithDefault(llmstub.Status(503)))
	answering := llmstub.Start(t, llmstub.WithName("answering"))
	refusing := llmstub.Start(t, llmstub.WithName("refusing"), llmstub.WithDefault(llmstub.Status(400)))
	g := startGateway(t, filtersAfter(false),
		gatewayconfig.Endpoint("failing", failing.Addr(), &model.LLMMeta{Fallback: true}),
		gatewayconfig.Endpoint("answering", answering.Addr(), &model.LLMMeta{Fallback: true}),
		gatewayconfig.Endpoint("refusing", refusing.Addr(), nil))
	c := g.openAI(t)
	unaryCompletion(t, c) // round robin starts at failing, falls back to answering
	unaryCompletion(t, c) // answering
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	require.Error(t, err, "refusing answers 400")

	s := g.scrape(t)
	byEndpoint := func(name, id string) float64 { return s.Sum(name, metricstest.Labels{"endpoint_id": id}) }
	assert.Equal(t, 1.0, byEndpoint("pixiu_llm_upstream_requests_total", "failing"))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_requests_failure_total",
		metricstest.Labels{"endpoint_id": "failing", "error_type": "no_answer", "endpoint_address": failing.Addr()}))
	assert.Equal(t, 2.0, byEndpoint("pixiu_llm_upstream_requests_total", "answering"))
	assert.Equal(t, 2.0, s.Value(t, "pixiu_llm_upstream_requests_success_total", metricstest.Labels{"endpoint_id": "answering", "status_code": "200"}))
	assert.Equal(t, 1.0, s.Value(t, "pixiu_llm_upstream_requests_failure_total",
		metricstest.Labels{"endpoint_id": "refusing", "error_type": "status_code_error", "status_code": "400"}))
	assert.Zero(t, byEndpoint("pixiu_llm_total_tokens_total", "refusing"), "an error answer has no usage")
}

// log_to_console: one line per request through the gateway's logger, with the counts, cluster,
// endpoint and model, and nothing of the messages or keys. Without it, no line.
func TestTokenizerLogsOneLinePerRequestWithoutContentOrKeys(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("logged"), llmstub.WithAPIKey(upstreamKey))
	meta := &model.LLMMeta{APIKey: upstreamKey}
	logged := startGateway(t, filtersAfter(true), gatewayconfig.Endpoint("logged", stub.Addr(), meta))
	quiet := startGateway(t, filtersAfter(false), gatewayconfig.Endpoint("logged", stub.Addr(), meta))

	res := unaryCompletion(t, logged.openAI(t))
	unaryCompletion(t, quiet.openAI(t))

	var lines []string
	for _, l := range strings.Split(logged.Logs.String(), "\n") {
		if strings.Contains(l, `msg="llm usage"`) {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, logged.Logs.String())
	line := lines[0]
	for _, want := range []string{"level=INFO", "filter=dgp.filter.llm.tokenizer", "cluster=chat", "endpoint=logged",
		"model=stub-model", "status=200", fmt.Sprintf("prompt_tokens=%d", res.Usage.PromptTokens),
		fmt.Sprintf("completion_tokens=%d", res.Usage.CompletionTokens), fmt.Sprintf("total_tokens=%d", res.Usage.TotalTokens)} {
		assert.Contains(t, line, want)
	}
	for _, secret := range []string{upstreamKey, "sk-client-key-not-forwarded", "say hi", res.Choices[0].Message.Content} {
		assert.NotContains(t, logged.Logs.String(), secret)
	}
	assert.NotContains(t, quiet.Logs.String(), `msg="llm usage"`)
}
