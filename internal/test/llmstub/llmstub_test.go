package llmstub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
)

const chatPath = "/v1/chat/completions"

func openAIClient(stub *llmstub.Stub, apiKey string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(stub.URL()+"/v1/"),
		option.WithAPIKey(apiKey),
		option.WithMaxRetries(0),
	)
}

// httpClient gives each test its own connection pool so one test's dropped
// connections cannot leak into another.
func httpClient(t *testing.T) *http.Client {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 5 * time.Second}
}

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("Say hi please"),
		},
	}
}

func postChat(t *testing.T, ctx context.Context, client *http.Client, stub *llmstub.Stub, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, stub.URL()+chatPath, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return client.Do(req)
}

const unaryBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

func streamBody(includeUsage bool) string {
	if includeUsage {
		return `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	}
	return `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
}

type sseEvent struct {
	data string
	at   time.Time
}

// readEvents delivers the data of each SSE event as it arrives and closes the
// channel when the body ends or fails.
func readEvents(body io.Reader) <-chan sseEvent {
	events := make(chan sseEvent, 64)
	go func() {
		defer close(events)
		scanner := bufio.NewScanner(body)
		for scanner.Scan() {
			if data, ok := strings.CutPrefix(scanner.Text(), "data: "); ok {
				events <- sseEvent{data: data, at: time.Now()}
			}
		}
	}()
	return events
}

func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "stream ended early")
		return ev
	case <-time.After(time.Second):
		require.FailNow(t, "no SSE event within 1s")
		return sseEvent{}
	}
}

func decodeError(t *testing.T, body io.Reader) (message, errType string, code any) {
	t.Helper()
	var payload struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(body).Decode(&payload))
	return payload.Error.Message, payload.Error.Type, payload.Error.Code
}

func TestUnaryCompletionWithOpenAIClient(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("alpha"))
	client := openAIClient(stub, "sk-any")

	resp, err := client.Chat.Completions.New(t.Context(), chatParams("gpt-test"))
	require.NoError(t, err)

	assert.NotEmpty(t, resp.ID)
	assert.EqualValues(t, "chat.completion", resp.Object)
	assert.NotZero(t, resp.Created)
	assert.Equal(t, "gpt-test", resp.Model, "the requested model is echoed")
	require.Len(t, resp.Choices, 1)
	assert.EqualValues(t, "assistant", resp.Choices[0].Message.Role)
	assert.Equal(t, "Hello from alpha", resp.Choices[0].Message.Content)
	assert.Equal(t, stub.Reply(), resp.Choices[0].Message.Content)
	assert.Equal(t, "stop", resp.Choices[0].FinishReason)
	// Tokens are words: "You are terse." + "Say hi please" and "Hello from alpha".
	assert.EqualValues(t, 6, resp.Usage.PromptTokens)
	assert.EqualValues(t, 3, resp.Usage.CompletionTokens)
	assert.EqualValues(t, 9, resp.Usage.TotalTokens)

	reqs := stub.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, chatPath, reqs[0].Path)
	assert.Contains(t, string(reqs[0].Body), `"gpt-test"`)
}

func TestStreamingChunksArriveSpacedWithUsage(t *testing.T) {
	const chunks, interval = 5, 40 * time.Millisecond
	stub := llmstub.Start(t, llmstub.WithName("beta"), llmstub.WithStream(chunks, interval))
	client := openAIClient(stub, "sk-any")

	params := chatParams("gpt-test")
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	defer stream.Close()

	var (
		content      strings.Builder
		contentTimes []time.Time
		finishedAt   time.Time
		usage        *openai.CompletionUsage
	)
	for stream.Next() {
		chunk := stream.Current()
		assert.EqualValues(t, "chat.completion.chunk", chunk.Object)
		assert.Equal(t, "gpt-test", chunk.Model)
		if len(chunk.Choices) == 0 {
			usage = &chunk.Usage
			continue
		}
		require.Nil(t, usage, "usage chunk must come last")
		choice := chunk.Choices[0]
		if choice.FinishReason != "" {
			assert.Equal(t, "stop", choice.FinishReason)
			finishedAt = time.Now()
			continue
		}
		content.WriteString(choice.Delta.Content)
		contentTimes = append(contentTimes, time.Now())
	}
	require.NoError(t, stream.Err())

	assert.Equal(t, "Hello from beta #4 #5", content.String())
	require.Len(t, contentTimes, chunks)
	require.False(t, finishedAt.IsZero(), "finish chunk missing")

	// The stub sleeps the interval between every two chunks; arrival jitter can
	// shorten a single gap, so each gap only needs half the interval while the
	// whole span must add up.
	arrivals := append(contentTimes, finishedAt)
	for i := 1; i < len(arrivals); i++ {
		assert.GreaterOrEqual(t, arrivals[i].Sub(arrivals[i-1]), interval/2, "gap before chunk %d", i)
	}
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	assert.GreaterOrEqual(t, span, time.Duration(chunks)*interval*3/4)
	assert.Less(t, span, time.Second)

	require.NotNil(t, usage, "include_usage must produce a usage chunk")
	assert.EqualValues(t, 6, usage.PromptTokens)
	assert.EqualValues(t, 5, usage.CompletionTokens)
	assert.EqualValues(t, 11, usage.TotalTokens)
}

func TestStreamingWireFormat(t *testing.T) {
	stub := llmstub.Start(t)
	client := httpClient(t)

	for _, includeUsage := range []bool{false, true} {
		resp, err := postChat(t, t.Context(), client, stub, streamBody(includeUsage))
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

		events := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
		wantEvents := 3 + 1 + 1 // content chunks, finish chunk, [DONE]
		if includeUsage {
			wantEvents++
		}
		require.Len(t, events, wantEvents, "include_usage=%v:\n%s", includeUsage, raw)
		assert.Equal(t, "data: [DONE]", events[len(events)-1])

		for i, ev := range events[:len(events)-1] {
			data, ok := strings.CutPrefix(ev, "data: ")
			require.True(t, ok, ev)
			var chunk map[string]any
			require.NoError(t, json.Unmarshal([]byte(data), &chunk), data)
			assert.Equal(t, "chat.completion.chunk", chunk["object"])
			usage, hasUsage := chunk["usage"]
			switch {
			case !includeUsage:
				assert.False(t, hasUsage, "no usage field without include_usage")
			case i == len(events)-2:
				assert.Empty(t, chunk["choices"], "usage chunk has no choices")
				assert.NotNil(t, usage)
			default:
				assert.True(t, hasUsage)
				assert.Nil(t, usage, "usage is null before the last chunk")
			}
		}
	}
}

func TestStreamActionLongStream(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("long"))
	stub.Script(llmstub.Stream(50, time.Millisecond))
	client := openAIClient(stub, "sk-any")

	stream := client.Chat.Completions.NewStreaming(t.Context(), chatParams("m"))
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	contentChunks := 0
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			contentChunks++
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, 50, contentChunks)
	require.Len(t, acc.Choices, 1)
	assert.True(t, strings.HasPrefix(acc.Choices[0].Message.Content, "Hello from long #4 #5"))
	assert.True(t, strings.HasSuffix(acc.Choices[0].Message.Content, " #50"))
}

func TestScriptedStatusesThenDefault(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("gamma"))
	stub.Script(
		llmstub.Status(429).WithHeader("Retry-After", "1"),
		llmstub.Status(503),
		llmstub.Status(400).WithBody(`{"custom":true}`),
	)
	assert.Equal(t, 3, stub.Pending())
	client := httpClient(t)

	resp, err := postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	message, errType, code := decodeError(t, resp.Body)
	resp.Body.Close()
	assert.Contains(t, message, "gamma")
	assert.Equal(t, "rate_limit_error", errType)
	assert.Equal(t, "rate_limit_exceeded", code)

	resp, err = postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	_, errType, code = decodeError(t, resp.Body)
	resp.Body.Close()
	assert.Equal(t, "server_error", errType)
	assert.Nil(t, code)

	resp, err = postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
	assert.JSONEq(t, `{"custom":true}`, string(body))

	for range 2 {
		resp, err = postChat(t, t.Context(), client, stub, unaryBody)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, "default action once the script is used up")
	}

	stub.SetDefault(llmstub.Status(502))
	resp, err = postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 502, resp.StatusCode)
	assert.Equal(t, 0, stub.Pending())
	assert.Equal(t, 6, stub.Count())
}

func TestScriptedStatusSeenByOpenAIClient(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.Status(429))
	client := openAIClient(stub, "sk-any")

	_, err := client.Chat.Completions.New(t.Context(), chatParams("m"))
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 429, apiErr.StatusCode)
	assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
}

func TestCloseConnGivesEOF(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.CloseConn())

	_, err := postChat(t, t.Context(), httpClient(t), stub, unaryBody)
	require.Error(t, err)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 1, stub.Count())
}

func TestResetGivesConnectionReset(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.Reset())

	_, err := postChat(t, t.Context(), httpClient(t), stub, unaryBody)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Equal(t, 1, stub.Count())
}

func TestDelay(t *testing.T) {
	stub := llmstub.Start(t)
	client := httpClient(t)

	stub.Script(llmstub.Delay(150*time.Millisecond), llmstub.Status(504).After(100*time.Millisecond))
	start := time.Now()
	resp, err := postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Less(t, time.Since(start), time.Second)

	start = time.Now()
	resp, err = postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 504, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestDelayForeverEndsWithClientDeadline(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.Delay(llmstub.Forever))

	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := postChat(t, ctx, httpClient(t), stub, unaryBody)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

func TestStallAfterThenResume(t *testing.T) {
	const stall = 200 * time.Millisecond
	stub := llmstub.Start(t)
	stub.Script(llmstub.StallAfter(1, stall))

	resp, err := postChat(t, t.Context(), httpClient(t), stub, streamBody(false))
	require.NoError(t, err)
	defer resp.Body.Close()
	events := readEvents(resp.Body)

	first := nextEvent(t, events)
	second := nextEvent(t, events)
	assert.Contains(t, first.data, `"Hello"`)
	assert.GreaterOrEqual(t, second.at.Sub(first.at), stall/2)
	var rest []string
	for ev := range events {
		rest = append(rest, ev.data)
	}
	require.NotEmpty(t, rest)
	assert.Equal(t, "[DONE]", rest[len(rest)-1], "the stream finishes after the stall")
}

func TestStallForeverUntilClientLeaves(t *testing.T) {
	stub := llmstub.Start(t)
	stub.Script(llmstub.StallAfter(2, llmstub.Forever))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp, err := postChat(t, ctx, httpClient(t), stub, streamBody(false))
	require.NoError(t, err)
	defer resp.Body.Close()
	events := readEvents(resp.Body)

	nextEvent(t, events)
	nextEvent(t, events)
	select {
	case ev := <-events:
		require.FailNow(t, "stream should be stalled", "got %q", ev.data)
	case <-time.After(150 * time.Millisecond):
	}

	cancel()
	select {
	case _, ok := <-events:
		assert.False(t, ok, "body ends once the client cancels")
	case <-time.After(time.Second):
		require.FailNow(t, "body did not end after cancel")
	}
}

func TestCloseEndsStalledStream(t *testing.T) {
	stub := llmstub.New(llmstub.WithDefault(llmstub.StallAfter(1, llmstub.Forever)))
	t.Cleanup(stub.Close)

	resp, err := postChat(t, t.Context(), httpClient(t), stub, streamBody(false))
	require.NoError(t, err)
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	nextEvent(t, events)

	start := time.Now()
	stub.Close()
	assert.Less(t, time.Since(start), time.Second, "Close must not wait out a stall")
	for range events {
	}
	stub.Close() // idempotent
}

func TestAPIKeyRequired(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithAPIKey("sk-right"))
	stub.Script(llmstub.Status(503))

	resp, err := postChat(t, t.Context(), httpClient(t), stub, unaryBody)
	require.NoError(t, err)
	assert.Equal(t, 401, resp.StatusCode)
	_, errType, code := decodeError(t, resp.Body)
	resp.Body.Close()
	assert.Equal(t, "invalid_request_error", errType)
	assert.Equal(t, "invalid_api_key", code)

	wrongKey := openAIClient(stub, "sk-wrong")
	_, err = wrongKey.Chat.Completions.New(t.Context(), chatParams("m"))
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 401, apiErr.StatusCode)
	assert.Equal(t, 1, stub.Pending(), "rejected requests do not consume the script")

	client := openAIClient(stub, "sk-right")
	_, err = client.Chat.Completions.New(t.Context(), chatParams("m"))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode, "the scripted action applies once authorised")
	resp2, err := client.Chat.Completions.New(t.Context(), chatParams("m"))
	require.NoError(t, err)
	assert.Equal(t, stub.Reply(), resp2.Choices[0].Message.Content)

	reqs := stub.Requests()
	require.Len(t, reqs, 4, "rejected requests are recorded too")
	assert.Empty(t, reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer sk-wrong", reqs[1].Header.Get("Authorization"))
	assert.Equal(t, "Bearer sk-right", reqs[3].Header.Get("Authorization"))
}

func TestRecordingAndEcho(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("echo"))
	client := httpClient(t)

	before := time.Now()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, stub.URL()+"/v1/files/abc?purpose=fine-tune&x=1", strings.NewReader("payload"))
	require.NoError(t, err)
	req.Header.Set("X-Trace", "t-1")
	resp, err := client.Do(req)
	require.NoError(t, err)
	var echo map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&echo))
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, map[string]string{"stub": "echo", "method": "PUT", "path": "/v1/files/abc", "query": "purpose=fine-tune&x=1"}, echo)

	last, ok := stub.Last()
	require.True(t, ok)
	assert.Equal(t, "PUT", last.Method)
	assert.Equal(t, "/v1/files/abc", last.Path)
	assert.Equal(t, "purpose=fine-tune&x=1", last.RawQuery)
	assert.Equal(t, "t-1", last.Header.Get("X-Trace"))
	assert.Equal(t, []byte("payload"), last.Body)
	assert.False(t, last.ReceivedAt.Before(before))
	assert.False(t, last.ReceivedAt.After(time.Now()))

	resp, err = postChat(t, t.Context(), client, stub, unaryBody)
	require.NoError(t, err)
	resp.Body.Close()
	reqs := stub.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, chatPath, reqs[1].Path)
	assert.JSONEq(t, unaryBody, string(reqs[1].Body))
	assert.Equal(t, 2, stub.Count())

	stub.Reset()
	assert.Empty(t, stub.Requests())
	assert.Zero(t, stub.Count())
	_, ok = stub.Last()
	assert.False(t, ok)
}

func TestDisableRecordingStillCounts(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithoutRecording())
	client := httpClient(t)
	for range 3 {
		resp, err := postChat(t, t.Context(), client, stub, unaryBody)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, 3, stub.Count())
	assert.Empty(t, stub.Requests())
}

func TestModelsList(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithModel("stub-4o"))
	client := openAIClient(stub, "sk-any")
	page, err := client.Models.List(t.Context())
	require.NoError(t, err)
	require.Len(t, page.Data, 1)
	assert.Equal(t, "stub-4o", page.Data[0].ID)
}

func TestInvalidChatBody(t *testing.T) {
	stub := llmstub.Start(t)
	resp, err := postChat(t, t.Context(), httpClient(t), stub, `{"model":`)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
	_, errType, _ := decodeError(t, resp.Body)
	assert.Equal(t, "invalid_request_error", errType)
}

func TestScriptIsConsumedOncePerRequestUnderConcurrency(t *testing.T) {
	const scripted, total = 40, 80
	stub := llmstub.Start(t)
	for range scripted {
		stub.Script(llmstub.Status(503))
	}
	client := httpClient(t)

	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range total {
		wg.Go(func() {
			resp, err := postChat(t, t.Context(), client, stub, unaryBody)
			if !assert.NoError(t, err) {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()

	assert.Equal(t, map[int]int{503: scripted, 200: total - scripted}, counts)
	assert.Equal(t, 0, stub.Pending())
	assert.Equal(t, total, stub.Count())
	assert.Len(t, stub.Requests(), total)
}

func TestNewServerLoopbackOnly(t *testing.T) {
	stub, err := llmstub.NewServer(":0", llmstub.Config{Name: "demo"})
	require.NoError(t, err)
	defer stub.Close()
	assert.True(t, strings.HasPrefix(stub.Addr(), "127.0.0.1:"), stub.Addr())
	assert.Equal(t, "http://"+stub.Addr(), stub.URL())

	resp, err := postChat(t, t.Context(), httpClient(t), stub, unaryBody)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.True(t, bytes.Contains(body, []byte("Hello from demo")), string(body))

	for _, addr := range []string{"0.0.0.0:0", "10.1.2.3:0", "example.com:0", "no-port"} {
		_, err := llmstub.NewServer(addr, llmstub.Config{})
		assert.Error(t, err, addr)
	}
	local, err := llmstub.NewServer("localhost:0", llmstub.Config{})
	require.NoError(t, err)
	local.Close()
}

func BenchmarkUnary(b *testing.B) {
	stub := llmstub.New(llmstub.WithoutRecording())
	defer stub.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := []byte(unaryBody)

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(stub.URL()+chatPath, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
