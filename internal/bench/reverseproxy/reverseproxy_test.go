package reverseproxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
)

// recordAddr captures the address Serve logs.
type recordAddr struct {
	slog.Handler
	addr chan string
}

func (recordAddr) Enabled(context.Context, slog.Level) bool { return true }

func (h recordAddr) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "address" {
			h.addr <- a.Value.String()
		}
		return true
	})
	return nil
}

func TestServeProxiesUnaryAndStreamedReplies(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithStream(4, time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	h := recordAddr{Handler: slog.DiscardHandler, addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", stub.URL(), 8, slog.New(h)) }()
	var addr string
	select {
	case addr = <-h.addr:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start")
	}

	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), stub.Reply())

	resp, err = http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
	}
	assert.Equal(t, 6, events, "4 content chunks, the finish chunk and [DONE]")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestHandlerRejectsARelativeUpstream(t *testing.T) {
	_, err := Handler("127.0.0.1:80", 1)
	assert.ErrorContains(t, err, "not an absolute URL")
}
