package proxy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const unaryCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"deepseek-chat",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"He said \"usage\": {\"prompt_tokens\": 999}"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0}}}`

const sseStream = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n" +
	"data: [DONE]\n\n"

type usageWant struct {
	found                     bool
	model                     string
	prompt, completion, total int64
}

func scan(pieces ...string) usageWant {
	var u usageScanner
	for _, p := range pieces {
		u.feed([]byte(p))
	}
	return usageWant{u.found, u.modelName(), u.prompt, u.completion, u.total}
}

func TestUsageScanner(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want usageWant
	}{
		{"unary completion", unaryCompletion, usageWant{true, "deepseek-chat", 12, 5, 17}},
		{"sse with include_usage", sseStream, usageWant{true, "gpt-4o", 7, 3, 10}},
		{"pretty printed", "{\n  \"model\" : \"m1\",\n  \"usage\" :\n {\n \"prompt_tokens\": 1,\n \"completion_tokens\": 2\n }\n}", usageWant{true, "m1", 1, 2, 3}},
		{"responses api names", `{"model":"o4","usage":{"input_tokens":4,"output_tokens":6,"total_tokens":10}}`, usageWant{true, "o4", 4, 6, 10}},
		{"escaped model, details before the counts", `{"model":"gpt-\u0034o","usage":{"prompt_tokens_details":{"cached_tokens":5},"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`, usageWant{true, "gpt-4o", 1, 2, 3}},
		{"no usage", `{"model":"m","choices":[]}`, usageWant{false, "m", 0, 0, 0}},
		{"null usage only", `data: {"model":"m","usage":null}` + "\n\n", usageWant{false, "m", 0, 0, 0}},
		{"zero usage is not reported", `{"usage":{"prompt_tokens":0}}`, usageWant{false, "unknown", 0, 0, 0}},
		{"last usage wins", `data: {"usage":{"total_tokens":1}}` + "\n\n" + `data: {"usage":{"total_tokens":2}}`, usageWant{true, "unknown", 0, 0, 2}},
		{"usage text inside a string is not a key", `{"usage":{"total_tokens":3},"note":"\"usage\":{\"total_tokens\":999}"}`, usageWant{true, "unknown", 0, 0, 3}},
		{"usage as a string value is skipped", `{"object":"usage","kind":"usage" ,"usage":{"total_tokens":3}}`, usageWant{true, "unknown", 0, 0, 3}},
		{"model not a string", `{"model":{"id":"x"},"usage":{"total_tokens":3}}`, usageWant{true, "unknown", 0, 0, 3}},
		{"oversized usage is ignored", `{"usage":{"prompt_tokens":1,"pad":"` + strings.Repeat("x", maxUsageJSON) + `"}}`, usageWant{false, "unknown", 0, 0, 0}},
		{"oversized model is ignored", `{"model":"` + strings.Repeat("m", maxModelJSON) + `","usage":{"total_tokens":3}}`, usageWant{true, "unknown", 0, 0, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, scan(tc.body), "whole body")
			// Any split into two pieces, and byte by byte, gives the same result.
			for i := 0; i <= len(tc.body); i++ {
				if got := scan(tc.body[:i], tc.body[i:]); got != tc.want {
					t.Fatalf("split at %d (%q|%q): got %+v, want %+v", i, tc.body[max(0, i-10):i], tc.body[i:min(len(tc.body), i+10)], got, tc.want)
				}
			}
			bytewise := make([]string, len(tc.body))
			for i := range tc.body {
				bytewise[i] = tc.body[i : i+1]
			}
			assert.Equal(t, tc.want, scan(bytewise...), "byte by byte")
		})
	}
}

func TestUsageScannerHoldsLittleMemory(t *testing.T) {
	var u usageScanner
	chunk := []byte(`data: {"model":"m","choices":[{"delta":{"content":"` + strings.Repeat("tok ", 50) + `"}}],"usage":null}` + "\n\n")
	for i := 0; i < 10_000; i++ {
		u.feed(chunk)
	}
	assert.Zero(t, cap(u.usageValue.value), "no usage object was captured, nothing buffered")
	allocs := testing.AllocsPerRun(100, func() { u.feed(chunk) })
	assert.Zero(t, allocs)
}
