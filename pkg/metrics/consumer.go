package metrics

import "github.com/prometheus/client_golang/prometheus"

// consumerMetrics count requests by the consumer that sent them (dgp.filter.llm.auth). The
// consumer label takes the names in the filter's config, so it is bounded by the config.
type consumerMetrics struct {
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	limited  *prometheus.CounterVec
}

func newConsumerMetrics(reg prometheus.Registerer) consumerMetrics {
	c := consumerMetrics{
		requests: counter("consumer_requests_total",
			"Requests of authenticated consumers, by consumer and the status class sent to the client.",
			"consumer", "code"),
		tokens: counter("consumer_tokens_total",
			"Tokens reported by upstream usage objects, by consumer and kind (prompt, completion, total).",
			"consumer", "kind"),
		rejected: counter("auth_rejected_total",
			"Requests refused for want of a valid consumer key, by reason (missing, invalid).",
			"reason"),
		limited: counter("consumer_limited_total",
			"Requests of a consumer answered 429 by one of its limits (requests_per_minute, tokens_per_minute).",
			"consumer", "limit"),
	}
	reg.MustRegister(c.requests, c.tokens, c.rejected, c.limited)
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

// ConsumerLimited counts a request of a consumer refused by one of its limits.
func (m *Metrics) ConsumerLimited(consumer, limit string) {
	if m == nil {
		return
	}
	m.consumers.limited.WithLabelValues(consumer, limit).Inc()
}
