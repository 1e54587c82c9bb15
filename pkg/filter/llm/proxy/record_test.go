package proxy_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// recorderPlugin is an observing filter that keeps the records it is handed; it passes requests on.
type recorderPlugin struct{}

func (recorderPlugin) Kind() string { return "test.recorder" }

func (recorderPlugin) CreateFilterFactory(filter.Env) (filter.HTTPFilterFactory, error) {
	return recorder, nil
}

var recorder = &recorderFactory{}

type recorderFactory struct {
	mu      sync.Mutex
	records []filter.Record
}

func (*recorderFactory) Config() any                            { return &struct{}{} }
func (*recorderFactory) Apply() error                           { return nil }
func (*recorderFactory) Handler(next http.Handler) http.Handler { return next }
func (f *recorderFactory) Observe(rec *filter.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, *rec)
}

func (f *recorderFactory) take() []filter.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.records
	f.records = nil
	return out
}

func init() { filter.RegisterHTTPFilter(recorderPlugin{}) }

// An observer placed after the terminal proxy (as upstream configs place the tokenizer) is
// handed the finished request: route, cluster, every endpoint tried, attempts, status, first
// byte and usage.
func TestObserverAfterProxySeesTheFinishedRequest(t *testing.T) {
	failing := llmstub.Start(t, llmstub.WithName("failing"), llmstub.WithDefault(llmstub.Status(503)))
	answering := llmstub.Start(t, llmstub.WithName("answering"))
	g := startGateway(t, gatewaySpec{
		filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{"timeout": "5s", "scheme": "http"}), gatewayconfig.Filter("test.recorder", nil)},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin",
			gatewayconfig.Endpoint("a", failing.Addr(), &model.LLMMeta{Fallback: true}),
			gatewayconfig.Endpoint("b", answering.Addr(), &model.LLMMeta{Fallback: true})),
	})
	recorder.take()

	// Round robin starts at a, which fails; fallback goes to b.
	resp, err := client(t).Post(g.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	records := recorder.take()
	require.Len(t, records, 1)
	rec := records[0]
	assert.Equal(t, "/", rec.Route)
	assert.Equal(t, "/v1/chat/completions", rec.Path)
	assert.Equal(t, "chat", rec.Cluster)
	assert.Equal(t, []string{"a", "b"}, rec.Tried)
	assert.Equal(t, 2, rec.Attempts)
	assert.Equal(t, "b", rec.Endpoint)
	assert.Equal(t, http.StatusOK, rec.Status)
	assert.Positive(t, rec.FirstByte)
	assert.False(t, rec.ClientGone)
	assert.True(t, rec.Usage.Reported)
	assert.Positive(t, rec.Usage.Total)
	assert.Equal(t, rec.Usage.Prompt+rec.Usage.Completion, rec.Usage.Total)
}
