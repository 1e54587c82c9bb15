package compat

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

func TestMain(m *testing.M) {
	// The tests name their registry address; the environment must not replace it.
	_ = os.Unsetenv("NACOS_ADDRESS")
	os.Exit(m.Run())
}

// onLoopback moves every listener of a loaded config to a free loopback port: tests never
// listen on 0.0.0.0, nor on fixed ports.
func onLoopback(doc *config.Document) {
	for _, l := range doc.Bootstrap.StaticResources.Listeners {
		l.Address.SocketAddress.Address = "127.0.0.1"
		l.Address.SocketAddress.Port = 0
	}
}

func warningsOf(doc *config.Document) string {
	var b strings.Builder
	for _, w := range doc.Warnings {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

func openAIClient(t *testing.T, baseURL string) openai.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return openai.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey("sk-compat-client"), option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}))
}

func chat(t *testing.T, c openai.Client) (*openai.ChatCompletion, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "deepseek-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	})
}

func scrape(t *testing.T, g *gatewaytest.Gateway) *metricstest.Scrape {
	require.NotNil(t, g.MetricsAddr(), "metrics are off")
	return metricstest.Get(t, "http://"+g.MetricsAddr().String()+"/metrics")
}
