package metrics

import "github.com/prometheus/client_golang/prometheus"

// ForgetEndpoint deletes every series of an endpoint that left its cluster, so that the scrape
// does not keep the label values of endpoints long gone (registries add and remove them all
// the time).
func (m *Metrics) ForgetEndpoint(cluster, endpoint string) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"cluster": cluster, "endpoint": endpoint}
	for _, v := range m.byEndpoint() {
		v.DeletePartialMatch(labels)
	}
}

// ForgetCluster deletes every series of a cluster that no longer exists.
func (m *Metrics) ForgetCluster(cluster string) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"cluster": cluster}
	for _, v := range m.byEndpoint() {
		v.DeletePartialMatch(labels)
	}
	m.tokens.DeletePartialMatch(labels)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints.DeletePartialMatch(labels)
	delete(m.endpointSources, cluster)
}

// partialDeleter is a metric vector whose series can be deleted by some of their labels.
type partialDeleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

// byEndpoint are the vectors labelled by cluster and endpoint.
func (m *Metrics) byEndpoint() []partialDeleter {
	return []partialDeleter{m.requests, m.upstreamAttempts, m.retries, m.fallbacks, m.cooldowns,
		m.streamsCut, m.upstreamLatency, m.firstByte}
}
