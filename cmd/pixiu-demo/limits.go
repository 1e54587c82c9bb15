package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go"
)

// The trial consumer of configs/demo.yaml may use trialTokensPerMinute tokens a minute. Each of
// its requests uses trialPromptWords tokens of prompt (the stub counts a token per word) and 3
// of reply ("Hello from beta"): three requests use 315 tokens, 15 more than the bucket holds,
// which the refill (5 tokens a second) pays back in 3 s.
const (
	trialTokensPerMinute = 300
	trialPromptWords     = 102
	maxTrialRequests     = 8
)

// consumerLimits shows the trial consumer running into its tokens limit: served while its
// bucket lasts, then refused with 429 and Retry-After without a provider being asked, and
// served again after the wait, with a stream whose usage the gateway asked the provider for.
func (d *demo) consumerLimits(ctx context.Context) error {
	d.out.title("Consumer limits: the trial consumer may use %d tokens a minute (limits in %s)", trialTokensPerMinute, d.config)
	client := d.clientWithKey(d.trialKey)
	used := int64(0)
	for i := 1; i <= maxTrialRequests; i++ {
		asked := d.upstreamRequests()
		reply, err := client.Chat.Completions.New(ctx, trialParams())
		if err == nil {
			who := providerOf(reply.Choices[0].Message.Content)
			d.counted(who)
			used += reply.Usage.TotalTokens
			d.out.info("request %d -> 200 from %-5s %d tokens (%d this minute)", i, who, reply.Usage.TotalTokens, used)
			continue
		}
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
			return errorf(err, "trial request %d", i)
		}
		retryAfter, convErr := strconv.Atoi(apiErr.Response.Header.Get("Retry-After"))
		if convErr != nil || retryAfter < 1 || retryAfter > 60 {
			return fmt.Errorf("trial request %d: 429 with Retry-After %q, want 1 to 60 seconds", i, apiErr.Response.Header.Get("Retry-After"))
		}
		if d.upstreamRequests() != asked {
			return fmt.Errorf("trial request %d was refused, yet a provider was asked", i)
		}
		d.out.info("request %d -> %d %s, Retry-After: %ds, no provider asked", i, apiErr.StatusCode, apiErr.Code, retryAfter)
		d.out.info("    %s", apiErr.Message)
		return d.servedAfter(ctx, retryAfter)
	}
	return fmt.Errorf("the trial consumer was not refused in %d requests", maxTrialRequests)
}

// servedAfter waits retryAfter seconds and streams a chat completion as the trial consumer,
// without asking for usage: the gateway asks on its behalf, so the stream is charged too.
func (d *demo) servedAfter(ctx context.Context, retryAfter int) error {
	select {
	case <-time.After(time.Duration(retryAfter) * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	client := d.clientWithKey(d.trialKey)
	s := client.Chat.Completions.NewStreaming(ctx, trialParams())
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		return errorf(err, "trial stream after Retry-After")
	}
	if len(acc.Choices) == 0 || acc.Usage.TotalTokens == 0 {
		return errors.New("trial stream after Retry-After: no content or no usage chunk")
	}
	who := providerOf(acc.Choices[0].Message.Content)
	d.counted(who)
	d.out.info("%ds later -> served again: a stream from %s; the client did not ask for usage, the gateway did", retryAfter, who)
	d.out.info("    (trial has a tokens limit): the last chunk reported %d tokens, charged like any answer", acc.Usage.TotalTokens)
	lines, err := d.metricLines(ctx, `pixiu_consumer_limited_total{consumer="trial",limit="tokens_per_minute"}`)
	if err != nil {
		return err
	}
	d.out.info("GET %s/metrics -> %s", d.metricsURL, lines[0])
	return nil
}

func trialParams() openai.ChatCompletionNewParams {
	return chatParams(strings.TrimSpace("Summarize: " + strings.Repeat("lorem ", trialPromptWords-1)))
}

// upstreamRequests is how many requests the providers have received.
func (d *demo) upstreamRequests() int {
	n := 0
	for _, p := range d.providers {
		n += p.stub.Count()
	}
	return n
}
