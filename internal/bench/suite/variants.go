package suite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/internal/bench/report"
)

// gatewayVariant is a gateway run beside the static gateway in the same data-plane run,
// differing from it by one change of its config.
type gatewayVariant struct {
	report.Variant
	tweak func(cfg *gatewayproc.Config, consumer gatewayproc.Consumer)
}

// neverRefused is a limit no benchmark run reaches: the limiter's work is done on every
// request, and nothing is refused.
const neverRefused = 1 << 40

// gatewayVariants are the variants, in report order. The driver sends every path the same
// "Authorization: Bearer <consumer key>" header, so that the auth variants differ from the
// static gateway by the filter only (without the filter the stub ignores the header).
var gatewayVariants = []gatewayVariant{
	{report.Variant{Name: "gateway + auth", About: "dgp.filter.llm.auth first in the chain, one consumer", MaxCPUIncrease: 0.05},
		func(cfg *gatewayproc.Config, c gatewayproc.Consumer) { cfg.Consumers = []gatewayproc.Consumer{c} }},
	{report.Variant{Name: "gateway + auth + limits", About: "the same consumer with requests_per_minute and tokens_per_minute too high to refuse (its streams then ask for usage: one chunk more)"},
		func(cfg *gatewayproc.Config, c gatewayproc.Consumer) {
			c.RequestsPerMinute, c.TokensPerMinute = neverRefused, neverRefused
			cfg.Consumers = []gatewayproc.Consumer{c}
		}},
	{report.Variant{Name: "gateway (model-routed)", About: "route {model_routing: true} instead of {cluster: bench}; the endpoint lists the benchmark's model", MaxCPUIncrease: 0.05},
		func(cfg *gatewayproc.Config, _ gatewayproc.Consumer) {
			cfg.Routes = []gatewayproc.Route{{ModelRouting: true}}
			cfg.Clusters[0].Endpoints[0].Models = []string{dataplane.Model}
		}},
	{report.Variant{Name: "gateway + tokenizer", About: "dgp.filter.llm.tokenizer after the proxy (log_to_console: false)"},
		func(cfg *gatewayproc.Config, _ gatewayproc.Consumer) { cfg.Tokenizer = true }},
}

// staticConfig is the plain static gateway's config: one route to one cluster with the stub.
func (s *suite) staticConfig() gatewayproc.Config {
	return gatewayproc.Config{
		Routes:   []gatewayproc.Route{{Cluster: "bench"}},
		Clusters: []gatewayproc.Cluster{{Name: "bench", Endpoints: []gatewayproc.Endpoint{{ID: "stub", Address: "127.0.0.1", Port: s.stubPort}}}},
	}
}

// benchConsumer makes the run's consumer: a random key, which only the driver holds, and its
// SHA-256 for the generated configs.
func benchConsumer() (gatewayproc.Consumer, http.Header, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return gatewayproc.Consumer{}, nil, fmt.Errorf("make a consumer key: %w", err)
	}
	key := "bench-" + hex.EncodeToString(b)
	sum := sha256.Sum256([]byte(key))
	return gatewayproc.Consumer{Name: "bench", KeySHA256: hex.EncodeToString(sum[:])},
		http.Header{"Authorization": {"Bearer " + key}}, nil
}

// startVariants starts a gateway process per variant and returns its targets; stop stops the
// ones started, also when an error is returned.
func (s *suite) startVariants(ctx context.Context, consumer gatewayproc.Consumer, header http.Header) (targets []dataplane.Target, stop func(), err error) {
	var started []*gatewayproc.Gateway
	stop = func() {
		for _, g := range started {
			s.stopChild(g.Process)
		}
	}
	for i, v := range gatewayVariants {
		cfg := s.staticConfig()
		v.tweak(&cfg, consumer)
		g, err := gatewayproc.Start(ctx, s.gatewayBinary(), s.opts.WorkDir, fmt.Sprintf("gateway-variant-%d", i+1), cfg)
		if err != nil {
			return nil, stop, fmt.Errorf("%s: %w", v.Name, err)
		}
		started = append(started, g)
		targets = append(targets, dataplane.Target{Name: v.Name, URL: g.URL(), Header: header, Proc: g.Process})
		s.run.Variants = append(s.run.Variants, v.Variant)
	}
	return targets, stop, nil
}
