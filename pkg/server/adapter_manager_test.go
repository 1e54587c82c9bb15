package server

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// fakeAdapterPlugin makes adapters that add one endpoint on Start and count their life cycle.
type fakeAdapterPlugin struct{}

func (fakeAdapterPlugin) Kind() string { return "test.adapter" }

func (fakeAdapterPlugin) CreateAdapter(_ *model.Adapter, env adapter.Env) (adapter.Adapter, error) {
	return &fakeAdapter{env: env}, nil
}

type fakeAdapter struct {
	env adapter.Env
	cfg struct {
		Cluster string `yaml:"cluster"`
		Fail    string `yaml:"fail"`
	}
	started, stopped atomic.Int32
}

func (a *fakeAdapter) Config() any { return &a.cfg }

func (a *fakeAdapter) Apply() error {
	if a.cfg.Fail == "field" {
		return &config.FieldError{Path: "cluster", Err: errors.New("cluster name is reserved")}
	}
	if a.cfg.Fail != "" {
		return errors.New(a.cfg.Fail)
	}
	return nil
}

func (a *fakeAdapter) Start() {
	a.started.Add(1)
	_ = a.env.Endpoints.SetEndpoint(a.cfg.Cluster, &model.Endpoint{ID: "from-adapter", Address: model.SocketAddress{Address: "127.0.0.1", Port: 1}})
}

func (a *fakeAdapter) Stop() { a.stopped.Add(1) }

func init() { adapter.RegisterAdapterPlugin(fakeAdapterPlugin{}) }

const adapterConfig = `
static_resources:
  clusters:
    - {name: chat, endpoints: [{id: static-1, socket_address: {address: 127.0.0.1, port: 1}}]}
  adapters:
    - id: first
      name: test.adapter
      config: {cluster: chat}
    - id: second
      name: test.adapter
      disabled: true
      config: {cluster: other}
`

func newTestGateway(t *testing.T, yaml string) (*Gateway, error) {
	t.Helper()
	doc, err := config.Load("adapters.yaml", []byte(yaml))
	require.NoError(t, err)
	return New(doc, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestAdaptersStartAndStop(t *testing.T) {
	g, err := newTestGateway(t, adapterConfig)
	require.NoError(t, err)
	all := g.Adapters.Adapters()
	require.Len(t, all, 1, "the disabled adapter is skipped, the other one kept")
	first := all["first"].(*fakeAdapter)

	require.NoError(t, g.Start())
	c := g.Clusters.Cluster("chat")
	require.Len(t, c.Members, 2)
	assert.Equal(t, "first", c.Members[1].Source, "adapter endpoints are tagged with the adapter id")
	assert.Nil(t, g.Clusters.Cluster("other"))

	require.NoError(t, g.Shutdown(t.Context()))
	require.NoError(t, g.Shutdown(t.Context()))
	assert.Equal(t, int32(1), first.started.Load())
	assert.Equal(t, int32(1), first.stopped.Load(), "adapters are stopped once")
}

func TestAdapterErrorsNameTheAdapter(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"apply fails", strings.Replace(adapterConfig, "config: {cluster: chat}", "config: {cluster: chat, fail: registry address missing}", 1),
			[]string{"adapters.yaml:8", "static_resources.adapters[0].config", `adapter "first"`, "registry address missing"}},
		{"apply fails on a key", strings.Replace(adapterConfig, "config: {cluster: chat}", "config: {cluster: chat, fail: field}", 1),
			[]string{"adapters.yaml:8", "static_resources.adapters[0].config.cluster", `adapter "first": cluster name is reserved`}},
		{"unknown kind", strings.Replace(adapterConfig, "name: test.adapter", "name: dgp.adapter.nope", 1),
			[]string{"adapters.yaml:7", "static_resources.adapters[0].name", `adapter "first"`, `unknown adapter "dgp.adapter.nope"`}},
		{"bad config type", strings.Replace(adapterConfig, "config: {cluster: chat}", "config: {cluster: [a, b]}", 1),
			[]string{"static_resources.adapters[0].config", "cannot unmarshal"}},
		{"duplicate id", strings.Replace(adapterConfig, "disabled: true", "disabled: false", 1) + "    - {id: first, name: test.adapter}\n",
			[]string{"static_resources.adapters[2].id", `duplicate adapter id "first"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newTestGateway(t, tc.yaml)
			require.Error(t, err)
			assert.Nil(t, g, "no half-built gateway is returned")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestAdapterStopIsBoundedByStepTimeout(t *testing.T) {
	am := &AdapterManager{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	block := make(chan struct{})
	defer close(block)
	am.adapters = []namedAdapter{{id: "stuck", adapter: stuckAdapter{block}}}
	start := time.Now()
	am.Stop(100 * time.Millisecond)
	assert.Less(t, time.Since(start), 2*time.Second)
}

type stuckAdapter struct{ block chan struct{} }

func (stuckAdapter) Config() any  { return nil }
func (stuckAdapter) Apply() error { return nil }
func (stuckAdapter) Start()       {}
func (s stuckAdapter) Stop()      { <-s.block }
