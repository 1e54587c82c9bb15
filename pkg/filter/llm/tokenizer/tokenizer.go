// Package tokenizer is the dgp.filter.llm.tokenizer HTTP filter, as upstream Pixiu's AI gateway
// names it: it counts the tokens of every answer the LLM proxy relays (from the upstream's
// usage object, unary and streamed) by cluster, endpoint and model, and the upstream requests
// beside them, under upstream's metric names so that its dashboards keep working. With
// log_to_console it logs one line per request: token counts, cluster, endpoint and model.
//
// It reads the request's filter.Record once the chain has returned, so it works wherever it
// stands in http_filters: upstream's configs place it after the proxy, which answers every
// request itself. Its Handler passes requests on unchanged and it never touches a response
// body, so streams are not held back.
package tokenizer

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
)

// Kind is the filter's name in pixiu.yaml.
const Kind = "dgp.filter.llm.tokenizer"

func init() {
	filter.RegisterHTTPFilter(plugin{})
}

// Config is the filter's config in pixiu.yaml.
type Config struct {
	// LogToConsole logs one line per request with its token counts, cluster, endpoint and
	// model through the gateway's logger, at info level. Never message content or keys.
	LogToConsole bool `yaml:"log_to_console"`
}

type plugin struct{}

func (plugin) Kind() string { return Kind }

func (plugin) CreateFilterFactory(env filter.Env) (filter.HTTPFilterFactory, error) {
	return &factory{env: env, logger: env.FilterLogger(Kind)}, nil
}

type factory struct {
	env      filter.Env
	cfg      Config
	logger   *slog.Logger
	counters *counters
}

func (f *factory) Config() any { return &f.cfg }

func (f *factory) Apply() error {
	if f.env.Metrics == nil {
		return nil
	}
	c, err := registerCounters(f.env.Metrics.Registry)
	if err != nil {
		return err
	}
	f.counters = c
	return nil
}

// Handler passes every request on unchanged: the counting happens in Observe.
func (f *factory) Handler(next http.Handler) http.Handler { return next }

// Observe counts a finished request the LLM proxy forwarded, and logs it when configured to.
func (f *factory) Observe(rec *filter.Record) {
	if rec.Cluster == "" {
		return // not forwarded by the LLM proxy: no route matched, or another filter answered
	}
	model := rec.Model
	if f.env.Metrics != nil {
		model = f.env.Metrics.ModelLabel(model)
	}
	f.counters.count(rec, model, f.endpointAddress)
	if f.cfg.LogToConsole {
		f.log(rec)
	}
}

// endpointAddress is the host[:port] the proxy dials for an endpoint of the current snapshot;
// empty when the endpoint has left the cluster meanwhile.
func (f *factory) endpointAddress(clusterName, id string) string {
	if f.env.Clusters == nil {
		return ""
	}
	c := f.env.Clusters.Cluster(clusterName)
	if c == nil {
		return ""
	}
	m := c.Member(id)
	if m == nil {
		return ""
	}
	return m.Target.Host
}

// log writes the request's usage line: counts and where they came from, nothing of the content.
func (f *factory) log(rec *filter.Record) {
	attrs := []slog.Attr{
		slog.String("cluster", rec.Cluster), slog.String("endpoint", rec.Endpoint),
		slog.String("model", rec.Model), slog.Int("status", rec.Status),
	}
	if rec.Usage.Reported {
		attrs = append(attrs, slog.Int64("prompt_tokens", rec.Usage.Prompt),
			slog.Int64("completion_tokens", rec.Usage.Completion), slog.Int64("total_tokens", rec.Usage.Total))
	} else {
		attrs = append(attrs, slog.String("usage", "not reported"))
	}
	f.logger.LogAttrs(context.Background(), slog.LevelInfo, "llm usage", attrs...)
}
