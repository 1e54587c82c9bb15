package proxy_test

import (
	"testing"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// BenchmarkModelRoutedVsClusterRoute sends the same chat request through the gateway on a
// cluster route and on a model_routing route to the same endpoint, one request at a time: the
// difference is what reading the model and choosing the cluster cost per request.
func BenchmarkModelRoutedVsClusterRoute(b *testing.B) {
	stub := llmstub.Start(b, llmstub.WithName("bench"), llmstub.WithoutRecording())
	g := startModelGateway(b,
		gatewayconfig.Cluster("first", "RoundRobin", gatewayconfig.Endpoint("stub", stub.Addr(), &model.LLMMeta{Fallback: true, Models: []string{"stub-model"}})),
		gatewayconfig.Cluster("second", "RoundRobin", gatewayconfig.Endpoint("other", stub.Addr(), &model.LLMMeta{Models: []string{"other-model"}})))
	body := []byte(chatBody)
	for _, route := range []struct{ name, header string }{{"cluster-route", "chat"}, {"model-routed", ""}} {
		b.Run(route.name, func(b *testing.B) {
			c := benchClient(b)
			endpoint := g.URL + "/v1/chat/completions"
			b.ReportAllocs()
			for b.Loop() {
				if route.header != "" {
					benchPost(b, c, endpoint, body, "X-Route", route.header)
				} else {
					benchPost(b, c, endpoint, body)
				}
			}
		})
	}
}
