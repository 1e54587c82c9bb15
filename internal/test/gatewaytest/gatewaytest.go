// Package gatewaytest runs a whole gateway, built from pixiu.yaml text, inside a test.
package gatewaytest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/logcapture"
	"github.com/pixiu-llm/gateway/pkg/config"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry" // every filter and adapter a pixiu.yaml may name
	"github.com/pixiu-llm/gateway/pkg/server"
)

// EnvLogs names the environment variable that, when set, prints every gateway's log at the end
// of its test; otherwise the log is printed only when the test fails.
const EnvLogs = "IT_LOGS"

// Gateway is a gateway started for one test; Logs holds everything it logged, from debug level
// up, and the access log lines of listeners that enable it.
type Gateway struct {
	*server.Gateway
	Logs *logcapture.Buffer
}

// Start loads yaml, builds and starts the gateway, and shuts it down when the test ends.
// Metrics, when enabled, listen on a free port.
func Start(t testing.TB, yaml string) *Gateway {
	t.Helper()
	doc, err := config.Load("pixiu.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("load the gateway config: %v", err)
	}
	return StartDoc(t, doc)
}

// StartDoc is Start for a config already loaded, which the test may have adjusted (listener
// addresses, registry addresses) after loading.
func StartDoc(t testing.TB, doc *config.Document) *Gateway {
	t.Helper()
	// Set after loading: in pixiu.yaml a port of 0 means the default port.
	doc.Bootstrap.Metric.PrometheusPort = 0
	logs := &logcapture.Buffer{}
	g, err := server.New(doc, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		server.WithAccessLogOutput(logs))
	if err != nil {
		t.Fatalf("build the gateway: %v", err)
	}
	if err := g.Start(); err != nil {
		t.Fatalf("start the gateway: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		if t.Failed() || os.Getenv(EnvLogs) != "" {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return &Gateway{Gateway: g, Logs: logs}
}

// URL is the base URL of the named listener, e.g. "http://127.0.0.1:40123".
func (g *Gateway) URL(listener string) string {
	addr := g.ListenerAddrs()[listener]
	if addr == nil {
		panic(fmt.Sprintf("gatewaytest: no listener %q", listener))
	}
	return "http://" + addr.String()
}
