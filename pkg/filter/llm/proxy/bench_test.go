package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// The benchmarks send the same request straight to the stub, through Go's
// httputil.ReverseProxy (the floor for a Go proxy) and through the gateway, one request at a
// time, so ns/op is the latency of one request and the difference to "direct" is what the hop
// adds. allocs/op counts the whole process: client, proxy and stub.

type benchTarget struct {
	name string
	url  string
}

func benchTargets(b *testing.B, stub *llmstub.Stub) []benchTarget {
	b.Helper()
	upstream, _ := url.Parse(stub.URL())
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.Transport = &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100}
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // benchmark clients hang up at the end of each run
	rpServer := httptest.NewServer(rp)
	b.Cleanup(rpServer.Close)

	g := startGateway(b, gatewaySpec{
		filter:  map[string]any{"timeout": "60s", "scheme": "http", "maxIdleConns": 100, "maxIdleConnsPerHost": 100},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("stub", stub.Addr(), &model.LLMMeta{APIKey: "sk-bench", Fallback: true})),
	})
	return []benchTarget{{"direct", stub.URL()}, {"reverseproxy", rpServer.URL}, {"gateway", g.URL}}
}

func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func BenchmarkProxyUnary(b *testing.B) {
	stub := llmstub.Start(b, llmstub.WithName("bench"), llmstub.WithoutRecording())
	body := []byte(chatBody)
	for _, target := range benchTargets(b, stub) {
		b.Run(target.name, func(b *testing.B) {
			c := benchClient(b)
			endpoint := target.url + "/v1/chat/completions"
			b.ReportAllocs()
			for b.Loop() {
				benchPost(b, c, endpoint, body)
			}
		})
	}
}

// benchPost sends one chat request with the given header pairs and fails the benchmark unless
// the answer is 200.
func benchPost(b *testing.B, c *http.Client, endpoint string, body []byte, header ...string) {
	req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer client")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkProxyUnaryParallel measures throughput with concurrent clients.
func BenchmarkProxyUnaryParallel(b *testing.B) {
	stub := llmstub.Start(b, llmstub.WithName("bench"), llmstub.WithoutRecording())
	body := []byte(chatBody)
	for _, target := range benchTargets(b, stub) {
		b.Run(target.name, func(b *testing.B) {
			c := benchClient(b)
			endpoint := target.url + "/v1/chat/completions"
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkProxySSEFirstByte streams a 20-chunk completion and reports the time to the first
// event (ttfb-ns/op) next to the time for the whole stream (ns/op).
func BenchmarkProxySSEFirstByte(b *testing.B) {
	stub := llmstub.Start(b, llmstub.WithName("bench"), llmstub.WithoutRecording(), llmstub.WithStream(20, 0))
	body := []byte(streamBody(true))
	for _, target := range benchTargets(b, stub) {
		b.Run(target.name, func(b *testing.B) {
			c := benchClient(b)
			endpoint := target.url + "/v1/chat/completions"
			var ttfb time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				r := bufio.NewReader(resp.Body)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						b.Fatal("stream ended before its first event: ", err)
					}
					if strings.HasPrefix(line, "data: ") {
						break
					}
				}
				ttfb += time.Since(start)
				_, _ = io.Copy(io.Discard, r)
				resp.Body.Close()
			}
			b.ReportMetric(float64(ttfb.Nanoseconds())/float64(b.N), "ttfb-ns/op")
		})
	}
}
