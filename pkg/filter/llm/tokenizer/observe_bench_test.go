package tokenizer

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// BenchmarkObserve is the tokenizer's CPU cost per request: counting one answered request with
// usage, with and without its log line.
func BenchmarkObserve(b *testing.B) {
	for name, log := range map[string]bool{"counters": false, "counters+log": true} {
		b.Run(name, func(b *testing.B) {
			f := &factory{
				env:    filter.Env{Metrics: metrics.New()},
				cfg:    Config{LogToConsole: log},
				logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			if err := f.Apply(); err != nil {
				b.Fatal(err)
			}
			rec := &filter.Record{Start: time.Now(), Cluster: "chat", Endpoint: "a", Tried: []string{"a"}, Status: 200,
				Model: "deepseek-chat", Usage: filter.Usage{Prompt: 12, Completion: 30, Total: 42, Reported: true}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Observe(rec)
			}
		})
	}
}
