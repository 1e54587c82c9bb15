package metrics

import "github.com/prometheus/client_golang/prometheus"

// consumerCollectors count, per consumer (a name from the auth filter's config, so the label is
// bounded), what the consumer limiter admitted, charged and refused.
type consumerCollectors struct {
	requests  *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	rejection *prometheus.CounterVec
}

func newConsumerCollectors(reg prometheus.Registerer) consumerCollectors {
	c := consumerCollectors{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_consumer_requests_total",
			Help: "Requests of a consumer admitted by its limits (every request of a consumer without limits).",
		}, []string{"consumer"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_consumer_tokens_total",
			Help: "Tokens (usage total_tokens) charged to a consumer when its responses ended.",
		}, []string{"consumer"}),
		rejection: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_consumer_rejections_total",
			Help: "Requests of a consumer refused with 429, by the limit that refused them (requests_per_minute, tokens_per_minute).",
		}, []string{"consumer", "limit"}),
	}
	reg.MustRegister(c.requests, c.tokens, c.rejection)
	return c
}

// ConsumerRequest counts a request the consumer limiter admitted.
func (m *Metrics) ConsumerRequest(consumer string) {
	if m == nil {
		return
	}
	m.consumers.requests.WithLabelValues(consumer).Inc()
}

// ConsumerTokens adds tokens charged to a consumer.
func (m *Metrics) ConsumerTokens(consumer string, tokens int64) {
	if m == nil || tokens <= 0 {
		return
	}
	m.consumers.tokens.WithLabelValues(consumer).Add(float64(tokens))
}

// ConsumerRejection counts a request refused by one of the consumer's limits.
func (m *Metrics) ConsumerRejection(consumer, limit string) {
	if m == nil {
		return
	}
	m.consumers.rejection.WithLabelValues(consumer, limit).Inc()
}
