package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler is the cost the filter adds to a request: find the consumer of a key among
// 20 keys of 10 consumers, strip the headers, pass the request on.
func BenchmarkHandler(b *testing.B) {
	var cfg Config
	for i := range 10 {
		cfg.Consumers = append(cfg.Consumers, ConsumerConfig{Name: fmt.Sprintf("team-%d", i),
			Keys: []string{fmt.Sprintf("consumer-key-%02d-a-0123456789abcdef", i), fmt.Sprintf("consumer-key-%02d-b-0123456789abcdef", i)}})
	}
	f := &factory{cfg: cfg}
	if err := f.Apply(); err != nil {
		b.Fatal(err)
	}
	h := f.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		req.Header = http.Header{"Authorization": {"Bearer consumer-key-07-b-0123456789abcdef"}}
		h.ServeHTTP(w, req)
	}
}
