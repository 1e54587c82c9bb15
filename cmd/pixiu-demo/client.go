package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
)

// client is an openai-go client pointed at the gateway with the demo-app consumer's key. It
// holds no provider key: the gateway checks the consumer key, removes it, and sets the key of
// whichever provider it picks.
func (d *demo) client() openai.Client { return d.clientWithKey(d.appKey) }

// clientWithKey is an openai-go client of the gateway presenting a consumer key.
func (d *demo) clientWithKey(key string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(d.gatewayURL+"/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // show what the gateway does, not client retries
		option.WithRequestTimeout(15*time.Second),
	)
}

func chatParams(prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "demo-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}
}

// chatOnce sends one chat completion and returns the reply and the provider that wrote it.
func (d *demo) chatOnce(ctx context.Context) (reply, who string, err error) {
	return d.complete(ctx, chatParams("Who are you?"))
}

// complete sends the chat completion params and returns the reply and the provider that wrote it.
func (d *demo) complete(ctx context.Context, params openai.ChatCompletionNewParams) (reply, who string, err error) {
	client := d.client()
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		return "", "", err
	}
	if len(resp.Choices) == 0 {
		return "", "", errors.New("completion without choices")
	}
	reply = resp.Choices[0].Message.Content
	return reply, providerOf(reply), nil
}

// chat is chatOnce, counted in the summary.
func (d *demo) chat(ctx context.Context) (reply, who string, err error) {
	reply, who, err = d.chatOnce(ctx)
	if err == nil {
		d.counted(who)
	}
	return reply, who, err
}

// stream sends a streamed chat completion and calls onChunk for every content chunk as it
// arrives, with the time since the request was sent.
func (d *demo) stream(ctx context.Context, onChunk func(i int, at time.Duration, text string)) (who string, chunks int, err error) {
	client := d.client()
	began := time.Now()
	params := chatParams("Tell me who you are, slowly.")
	// As OpenAI does, the stub sends the stream's token usage in a last chunk only when asked.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := client.Chat.Completions.NewStreaming(ctx, params)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		chunk := s.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) == 0 || chunk.Choices[0].Delta.Content == "" {
			continue
		}
		chunks++
		onChunk(chunks, time.Since(began), chunk.Choices[0].Delta.Content)
	}
	if err := s.Err(); err != nil {
		return "", chunks, err
	}
	if len(acc.Choices) == 0 {
		return "", chunks, errors.New("stream without content")
	}
	who = providerOf(acc.Choices[0].Message.Content)
	d.counted(who)
	return who, chunks, nil
}

// counted adds an answer of provider who to the summary.
func (d *demo) counted(who string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	d.answered[who]++
}

// providerOf reads the provider name out of a stub's reply ("Hello from <name>...").
func providerOf(reply string) string {
	_, after, ok := strings.Cut(reply, "Hello from ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, " ")
	return name
}
