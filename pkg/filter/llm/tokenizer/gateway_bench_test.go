package tokenizer_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

const (
	unaryBody  = `{"model":"m","messages":[{"role":"user","content":"say hi"}]}`
	streamBody = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`
)

// BenchmarkGatewayTokenizer runs requests through a whole in-process gateway with the tokenizer
// off and on (after the proxy, as upstream places it): ns/op is a unary request's round trip,
// and ttfb-ns/op a streamed one's time to its first byte, so the two rows show what the filter
// adds to each.
func BenchmarkGatewayTokenizer(b *testing.B) {
	stub := llmstub.Start(b, llmstub.WithoutRecording(), llmstub.WithStream(5, time.Millisecond))
	for _, tc := range []struct {
		name    string
		filters []*model.HTTPFilter
	}{
		{"off", []*model.HTTPFilter{proxy}},
		{"on", filtersAfter(false)},
	} {
		g := startGateway(b, tc.filters, gatewayconfig.Endpoint("a", stub.Addr(), nil))
		url := g.url + "/v1/chat/completions"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
		b.Run(tc.name+"/unary", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				post(b, client, url, unaryBody, nil)
			}
		})
		b.Run(tc.name+"/stream", func(b *testing.B) {
			var firstByte time.Duration
			for i := 0; i < b.N; i++ {
				post(b, client, url, streamBody, &firstByte)
			}
			b.ReportMetric(float64(firstByte.Nanoseconds())/float64(b.N), "ttfb-ns/op")
		})
	}
}

// post sends one request and reads the whole answer; with firstByte set, it adds the time to
// the answer's first body byte.
func post(b *testing.B, client *http.Client, url, body string, firstByte *time.Duration) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	if firstByte != nil {
		var one [1]byte
		if _, err := io.ReadFull(resp.Body, one[:]); err != nil {
			b.Fatal(err)
		}
		*firstByte += time.Since(start)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
}
