package base_test

import (
	"fmt"
	"testing"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
)

type discard struct{}

func (discard) OnAddEndpoint(registry.Event) error     { return nil }
func (discard) OnRemoveEndpoint(registry.Event)        {}
func (discard) Batch(fn func())                        { fn() }
func (discard) OnRejections([]*registry.MetadataError) {}

// BenchmarkSyncUnchanged is the steady state of a periodic re-read: 500 services of 2 instances
// each, one service re-read per op, nothing changed.
func BenchmarkSyncUnchanged(b *testing.B) {
	tr := base.New(discard{})
	lists := make([][]registry.Instance, 500)
	for s := range lists {
		for i := 0; i < 2; i++ {
			lists[s] = append(lists[s], inst(fmt.Sprintf("10.%d.%d.%d", s/250, s%250, i), 80,
				meta("cluster", "chat", "id", fmt.Sprintf("svc-%d-%d", s, i), "llm-meta.api_key", "sk")))
		}
		tr.Sync(fmt.Sprintf("svc-%d", s), lists[s])
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s := n % len(lists)
		tr.Sync(fmt.Sprintf("svc-%d", s), lists[s])
		n++
	}
}
