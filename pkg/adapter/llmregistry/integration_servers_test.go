package llmregistry_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

// The basic discovery cycle on every server and transport the adapter is tested with: a
// provider registering with the HTTP registrar of `pixiu llm register`, two instances routed,
// one deregistered, then the last. Each run logs its latencies.
func TestIntegrationServersAndTransports(t *testing.T) {
	t.Parallel()
	runs := []struct {
		name      string
		server    func(t *testing.T) string
		transport string
	}{
		{"polaris over http", sharedRegistry, "http"},
		{"r-nacos over http", func(t *testing.T) string { return startRNacos(t, rnacos.Options{}).Addr() }, "http"},
		{"r-nacos over grpc", func(t *testing.T) string { return startRNacos(t, rnacos.Options{}).Addr() }, "grpc"},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			t.Parallel()
			addr := run.server(t)
			discoveryCycle(t, addr, run.transport)
		})
	}
}

func discoveryCycle(t *testing.T, addr, transport string) {
	group := uniqueGroup(t)
	a, b := llmstub.Start(t, llmstub.WithName("one")), llmstub.Start(t, llmstub.WithName("two"))
	g := startGatewayOver(t, registryYAML{transport: transport, refresh: refreshInterval}, addr, group, "chat", llmstub.Start(t))
	p := newProvider(t, addr, group)

	began := time.Now()
	p.register("pair", a, meta("cluster", "chat", "id", "one"))
	p.register("pair", b, meta("cluster", "chat", "id", "two"))
	require.Eventually(t, func() bool { return g.hasMember("chat", "one") && g.hasMember("chat", "two") }, discoveryBound, poll)
	latency(t, "register → routed", time.Since(began))
	code, body := g.chat(t, "/v1/chat/completions")
	require.Equal(t, http.StatusOK, code, body)

	began = time.Now()
	p.deregister("pair", b)
	require.Eventually(t, func() bool { return !g.hasMember("chat", "two") }, discoveryBound, poll)
	latency(t, "deregister one of two → gone", time.Since(began))
	assert.True(t, g.hasMember("chat", "one"))

	began = time.Now()
	p.deregister("pair", a)
	require.Eventually(t, func() bool { return g.members("chat") == 0 }, discoveryBound, poll)
	latency(t, "last instance leaves → gone", time.Since(began))
	code, _ = g.chat(t, "/v1/chat/completions")
	assert.Equal(t, http.StatusServiceUnavailable, code)
}
