package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/packages/ssestream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

const (
	upstreamKey = "sk-upstream-3f9a"
	clientKey   = "sk-client-77c1"
)

func openAIClient(t *testing.T, g *testGateway) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(g.URL+"/v1/"),
		option.WithAPIKey(clientKey),
		option.WithMaxRetries(0),
		option.WithHTTPClient(client(t)),
	)
}

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "stub-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hi please")},
	}
}

func TestOpenAIClientCompletion(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("primary"), llmstub.WithAPIKey(upstreamKey))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("primary", stub.Addr(), &model.LLMMeta{APIKey: upstreamKey}))})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := openAIClient(t, g)
	res, err := c.Chat.Completions.New(ctx, chatParams())
	require.NoError(t, err)
	require.Len(t, res.Choices, 1)
	assert.Equal(t, "Hello from primary", res.Choices[0].Message.Content)
	assert.Positive(t, res.Usage.TotalTokens)

	rec, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "/v1/chat/completions", rec.Path)
	assert.Equal(t, "Bearer "+upstreamKey, rec.Header.Get("Authorization"), "the endpoint's key replaces the client's")
	for name, values := range rec.Header {
		for _, v := range values {
			assert.NotContains(t, v, clientKey, "header %s carries the client's key upstream", name)
		}
	}
	assert.Equal(t, float64(res.Usage.TotalTokens),
		g.scrape(t).Sum("pixiu_llm_tokens_total", map[string]string{"cluster": "chat", "model": "stub-model", "kind": "total"}))
}

func TestOpenAIClientStreamArrivesChunkByChunk(t *testing.T) {
	const chunks, interval = 6, 150 * time.Millisecond
	stub := llmstub.Start(t, llmstub.WithName("primary"), llmstub.WithAPIKey(upstreamKey), llmstub.WithStream(chunks, interval))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("primary", stub.Addr(), &model.LLMMeta{APIKey: upstreamKey}))})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := openAIClient(t, g)
	params := chatParams()
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	text, arrivals, usage, err := readStream(c.Chat.Completions.NewStreaming(ctx, params))
	require.NoError(t, err)
	assert.Equal(t, "Hello from primary #4 #5 #6", text)
	require.Len(t, arrivals, chunks)
	// Each chunk reached the client when the upstream sent it, not all at the end: the gaps
	// mirror the upstream's interval (with a wide margin for a loaded machine).
	// A buffering proxy would deliver them all at once, every gap near zero; a busy machine may
	// merge a few, so most gaps, not all, must show the interval.
	spaced := 0
	for i := 1; i < len(arrivals); i++ {
		if arrivals[i].Sub(arrivals[i-1]) > interval/3 {
			spaced++
		}
	}
	assert.GreaterOrEqual(t, spaced, (chunks-1)/2+1, "arrivals %v", arrivals)
	assert.Greater(t, arrivals[len(arrivals)-1].Sub(arrivals[0]), time.Duration(chunks-1)*interval*2/3)

	rec, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "Bearer "+upstreamKey, rec.Header.Get("Authorization"))
	assert.Positive(t, usage)
	assert.Equal(t, float64(usage),
		g.scrape(t).Sum("pixiu_llm_tokens_total", map[string]string{"cluster": "chat", "kind": "total"}),
		"usage is read from the stream as it passes")
}

// The error event that ends a silent stream reaches an OpenAI SDK as an error, after the
// chunks that came before it.
func TestOpenAIClientSeesTheStreamIdleError(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithDefault(llmstub.StallAfter(2, llmstub.Forever)))
	g := startGateway(t, gatewaySpec{filter: map[string]any{"timeout": "5s", "scheme": "http", "streamIdleTimeout": "1s"},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("quiet", stub.Addr(), nil))})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := openAIClient(t, g)
	stream := c.Chat.Completions.NewStreaming(ctx, chatParams())
	defer stream.Close()
	chunks := 0
	for stream.Next() {
		chunks++
	}
	require.Error(t, stream.Err())
	assert.Contains(t, stream.Err().Error(), "the upstream sent nothing for 1s")
	assert.GreaterOrEqual(t, chunks, 2)
}

// readStream reads a streamed chat completion to its end: the content, when each content
// chunk arrived, and the total tokens of the usage chunk.
func readStream(stream *ssestream.Stream[openai.ChatCompletionChunk]) (text string, arrivals []time.Time, usage int64, err error) {
	defer stream.Close()
	for stream.Next() {
		chunk := stream.Current()
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			text += chunk.Choices[0].Delta.Content
			arrivals = append(arrivals, time.Now())
		}
		usage = max(usage, chunk.Usage.TotalTokens)
	}
	return text, arrivals, usage, stream.Err()
}
