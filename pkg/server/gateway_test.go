package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewaytest"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// echoFilter answers with its configured name and the route's cluster, after an optional delay.
type echoFilter struct{}

func (echoFilter) Kind() string { return "test.echo" }

func (echoFilter) CreateFilterFactory(filter.Env) (filter.HTTPFilterFactory, error) {
	return &echoFactory{}, nil
}

type echoFactory struct {
	cfg struct {
		Name  string        `yaml:"name"`
		Delay time.Duration `yaml:"delay"`
	}
}

func (f *echoFactory) Config() any  { return &f.cfg }
func (f *echoFactory) Apply() error { return nil }
func (f *echoFactory) Handler(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.cfg.Delay > 0 {
			time.Sleep(f.cfg.Delay)
		}
		fmt.Fprintf(w, "%s:%s", f.cfg.Name, filter.RouteFrom(r.Context()).Cluster)
	})
}

func init() { filter.RegisterHTTPFilter(echoFilter{}) }

// startGateway starts the gateway of yaml and returns it with the base URL of its listener "main".
func startGateway(t *testing.T, yaml string) (*server.Gateway, string) {
	t.Helper()
	g := gatewaytest.Start(t, yaml)
	return g.Gateway, g.URL("main")
}

// routingConfig is pixiu.yaml text, not a built config: the tests of located errors count its
// lines.
const routingConfig = `
static_resources:
  listeners:
    - name: main
      address: {socket_address: {address: 127.0.0.1, port: 0}}
      filter_chains:
        filters:
          - name: dgp.filter.httpconnectionmanager
            config:
              route_config:
                routes:
                  - match: {path: /v1/models}
                    route: {cluster: models}
                  - match: {prefix: /v1, headers: [{name: X-Tenant, values: ["^team-[0-9]+$"], regex: true}]}
                    route: {cluster: tenant}
                  - match: {prefix: /v1, methods: [post]}
                    route: {cluster: chat}
              http_filters:
                - name: test.echo
                  config: {name: echo}
  clusters:
    - {name: models, endpoints: [{id: m, socket_address: {address: 127.0.0.1, port: 1}}]}
    - {name: tenant, endpoints: [{id: t, socket_address: {address: 127.0.0.1, port: 1}}]}
    - {name: chat, endpoints: [{id: c, socket_address: {address: 127.0.0.1, port: 1}}]}
`

func TestRouting(t *testing.T) {
	_, base := startGateway(t, routingConfig)
	cases := []struct {
		method, path string
		header       http.Header
		status       int
		body         string
	}{
		{"GET", "/v1/models", nil, 200, "echo:models"},
		{"POST", "/v1/chat/completions", http.Header{"X-Tenant": {"team-42"}}, 200, "echo:tenant"},
		{"POST", "/v1/chat/completions", http.Header{"X-Tenant": {"someone-else"}}, 200, "echo:chat"},
		{"POST", "/v1/chat/completions", nil, 200, "echo:chat"},
		{"GET", "/v1/chat/completions", nil, 404, `"code":"route_not_found"`},
		{"GET", "/healthz", nil, 404, "no route matches GET /healthz"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			require.NoError(t, err)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Contains(t, string(body), tc.body)
		})
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	cfg := strings.Replace(routingConfig, "config: {name: echo}", "config: {name: slow, delay: 500ms}", 1)
	g, base := startGateway(t, cfg)

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader("{}"))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{string(b), err}
	}()
	// Let the request reach the filter before shutting down.
	require.Eventually(t, func() bool { return g.InFlight() > 0 }, 2*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	require.NoError(t, g.Shutdown(context.Background()))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "shutdown waited for the request")

	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "slow:chat", r.body)

	_, err := http.Get(base + "/v1/models")
	assert.Error(t, err, "no new connections after shutdown")
	assert.NoError(t, g.Shutdown(context.Background()), "shutdown is idempotent")
}

func TestShutdownTimeoutBoundsDrain(t *testing.T) {
	cfg := strings.Replace(routingConfig, "config: {name: echo}", "config: {name: slow, delay: 3s}", 1) +
		"  shutdown_config: {timeout: 200ms}\n"
	g, base := startGateway(t, cfg)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return g.InFlight() > 0 }, 2*time.Second, 5*time.Millisecond)
	start := time.Now()
	err := g.Shutdown(context.Background())
	assert.Error(t, err, "a drain cut short is reported")
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestListenerPortInUse(t *testing.T) {
	g, base := startGateway(t, routingConfig)
	_ = g
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	doc, err := config.Load("clash.yaml", []byte(strings.Replace(routingConfig, "port: 0", "port: "+port, 1)))
	require.NoError(t, err)
	g2, err := server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	err = g2.Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `listener "main"`)
	assert.Contains(t, err.Error(), "address already in use")
}

func TestUnknownHTTPFilterIsAConfigError(t *testing.T) {
	doc, err := config.Load("bad.yaml", []byte(strings.Replace(routingConfig, "name: test.echo", "name: dgp.filter.nope", 1)))
	require.NoError(t, err)
	_, err = server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.yaml:19")
	assert.Contains(t, err.Error(), "http_filters[0].name")
	assert.Contains(t, err.Error(), `unknown http filter "dgp.filter.nope"`)
}

func TestAccessLogFormatErrorNamesTheKey(t *testing.T) {
	cfg := strings.Replace(routingConfig, "  clusters:", "      config: {access_log: {enabled: true, format: xml}}\n  clusters:", 1)
	doc, err := config.Load("bad.yaml", []byte(cfg))
	require.NoError(t, err)
	_, err = server.New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "static_resources.listeners[0].config.access_log.format")
	assert.Contains(t, err.Error(), `"xml" is not json or text`)
}
