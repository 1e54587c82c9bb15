// Package dataplane runs the data-plane benchmark: the same OpenAI-style requests, unary and
// streamed, sent straight to the stub upstream and through each proxy under test, at fixed
// offered rates and at saturation, side by side in one run.
package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// Model is the model every request of the benchmark names.
const Model = "stub-model"

var (
	unaryBody  = []byte(`{"model":"` + Model + `","messages":[{"role":"user","content":"Say hello"}]}`)
	streamBody = []byte(`{"model":"` + Model + `","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`)
)

// NewClient is the driver's HTTP client: keep-alive connections to loopback, at most conns of
// them per host, no transparent decompression.
func NewClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
}

// Unary posts a non-streaming chat completion to base+path and reads the whole reply.
func Unary(client *http.Client, url string, header http.Header) load.Request {
	return func(ctx context.Context, rec *load.Recorder) error {
		resp, err := post(ctx, client, url, header, unaryBody)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// Stream posts a streaming chat completion and reads the SSE reply event by event, reporting
// the arrival of each completion chunk to rec (not the closing [DONE], which the stub sends
// right after the last chunk); it fails unless the stream ends with [DONE].
func Stream(client *http.Client, url string, header http.Header) load.Request {
	done := []byte("data: [DONE]")
	return func(ctx context.Context, rec *load.Recorder) error {
		resp, err := post(ctx, client, url, header, streamBody)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		r := bufio.NewReaderSize(resp.Body, 4096)
		for {
			line, err := r.ReadSlice('\n')
			if bytes.HasPrefix(line, done) {
				_, _ = io.Copy(io.Discard, r)
				return nil
			}
			if bytes.HasPrefix(line, []byte("data:")) {
				rec.Chunk(time.Now())
			}
			if err == io.EOF {
				return fmt.Errorf("stream ended without [DONE]")
			}
			if err != nil && err != bufio.ErrBufferFull {
				return fmt.Errorf("read stream: %w", err)
			}
		}
	}
}

func post(ctx context.Context, client *http.Client, url string, header http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return client.Do(req)
}
