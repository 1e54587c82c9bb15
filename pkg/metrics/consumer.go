package metrics

import "github.com/prometheus/client_golang/prometheus"

// consumerMetrics count requests by the consumer that sent them (dgp.filter.llm.auth). The
// consumer label takes the names in the filter's config, so it is bounded by the config.
type consumerMetrics struct {
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

func newConsumerMetrics(reg prometheus.Registerer) consumerMetrics {
	c := consumerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_requests_total",
			Help: "Requests of authenticated consumers, by consumer and the status class sent to the client.",
		}, []string{"consumer", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_tokens_total",
			Help: "Tokens reported by upstream usage objects, by consumer and kind (prompt, completion, total).",
		}, []string{"consumer", "kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_rejected_total",
			Help: "Requests refused for want of a valid consumer key, by reason (missing, invalid).",
		}, []string{"reason"}),
	}
	reg.MustRegister(c.requests, c.tokens, c.rejected)
	return c
}

// ConsumerRequest counts a finished request of a consumer; code is the status sent to the client.
func (m *Metrics) ConsumerRequest(consumer string, code int) {
	if m == nil {
		return
	}
	m.consumers.requests.WithLabelValues(consumer, StatusClass(code)).Inc()
}

// ConsumerTokens adds the usage an upstream reported for a consumer's request.
func (m *Metrics) ConsumerTokens(consumer string, prompt, completion, total int64) {
	if m == nil {
		return
	}
	for _, t := range []struct {
		kind string
		n    int64
	}{{"prompt", prompt}, {"completion", completion}, {"total", total}} {
		if t.n > 0 {
			m.consumers.tokens.WithLabelValues(consumer, t.kind).Add(float64(t.n))
		}
	}
}

// AuthRejected counts a request refused by the auth filter; reason is "missing" or "invalid".
func (m *Metrics) AuthRejected(reason string) {
	if m == nil {
		return
	}
	m.consumers.rejected.WithLabelValues(reason).Inc()
}
