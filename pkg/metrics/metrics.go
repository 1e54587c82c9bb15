// Package metrics defines the gateway's Prometheus metrics. Every method is safe on a nil
// *Metrics, so components can run without metrics (in unit tests, or with metric.enable false).
// Label values are bounded: cluster names, endpoint ids, registry names, model names; never
// request ids or keys.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "pixiu"

// Metrics is the set of gateway collectors, registered on one registry.
type Metrics struct {
	Registry *prometheus.Registry

	requests         *prometheus.CounterVec
	upstreamAttempts *prometheus.CounterVec
	retries          *prometheus.CounterVec
	fallbacks        *prometheus.CounterVec
	cooldowns        *prometheus.CounterVec
	upstreamLatency  *prometheus.HistogramVec
	firstByte        *prometheus.HistogramVec
	tokens           *prometheus.CounterVec
	endpoints        *prometheus.GaugeVec
	discoveryEvents  *prometheus.CounterVec
	rejected         *prometheus.GaugeVec
	registryErrors   *prometheus.CounterVec
	registryUp       *prometheus.GaugeVec
	lastSync         *prometheus.GaugeVec
}

// New creates the collectors on a fresh registry, with the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_requests_total",
			Help: "Client requests handled by the LLM proxy, by cluster, final endpoint and status class.",
		}, []string{"cluster", "endpoint", "code"}),
		upstreamAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_upstream_attempts_total",
			Help: "Attempts sent upstream, by cluster, endpoint and outcome (2xx, 4xx, 5xx, error, timeout).",
		}, []string{"cluster", "endpoint", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_retries_total",
			Help: "Retries on the same endpoint, by cluster and endpoint.",
		}, []string{"cluster", "endpoint"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_fallbacks_total",
			Help: "Requests moved on from an endpoint to the next one, by cluster and the endpoint left.",
		}, []string{"cluster", "endpoint"}),
		cooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_cooldowns_total",
			Help: "Endpoints put into cooldown after exhausting their retries.",
		}, []string{"cluster", "endpoint"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "llm_upstream_duration_seconds",
			Help:    "Duration of upstream attempts until the response ended.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"cluster", "endpoint"}),
		firstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "llm_time_to_first_byte_seconds",
			Help:    "Time from sending an upstream attempt to the first response body byte (first token for streams).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cluster", "endpoint"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "llm_tokens_total",
			Help: "Tokens reported by upstream usage objects, by cluster, model and kind (prompt, completion, total).",
		}, []string{"cluster", "model", "kind"}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "cluster_endpoints",
			Help: "Endpoints per cluster by source (static, or the adapter id).",
		}, []string{"cluster", "source"}),
		discoveryEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "registry_discovery_events_total",
			Help: "Endpoint changes applied from a registry, by registry and type (add, update, delete).",
		}, []string{"registry", "type"}),
		rejected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "registry_rejected_instances",
			Help: "Registered instances currently not routed because their metadata is invalid.",
		}, []string{"registry"}),
		registryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "registry_errors_total",
			Help: "Failed registry calls, by registry.",
		}, []string{"registry"}),
		registryUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "registry_up",
			Help: "1 when the last registry call succeeded.",
		}, []string{"registry"}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "registry_last_sync_timestamp_seconds",
			Help: "Unix time of the last successful full read of the registry.",
		}, []string{"registry"}),
	}
	reg.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		m.requests, m.upstreamAttempts, m.retries, m.fallbacks, m.cooldowns, m.upstreamLatency,
		m.firstByte, m.tokens, m.endpoints, m.discoveryEvents, m.rejected, m.registryErrors,
		m.registryUp, m.lastSync,
	)
	return m
}

// Request counts a finished client request; code is the HTTP status sent to the client.
func (m *Metrics) Request(cluster, endpoint string, code int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(cluster, endpoint, statusClass(code)).Inc()
}

// UpstreamAttempt records one upstream attempt. outcome is a status class ("2xx", "5xx", ...),
// "error" or "timeout"; d is the attempt's duration.
func (m *Metrics) UpstreamAttempt(cluster, endpoint, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.upstreamAttempts.WithLabelValues(cluster, endpoint, outcome).Inc()
	m.upstreamLatency.WithLabelValues(cluster, endpoint).Observe(d.Seconds())
}

// FirstByte records the time to the first response body byte of an attempt.
func (m *Metrics) FirstByte(cluster, endpoint string, d time.Duration) {
	if m == nil {
		return
	}
	m.firstByte.WithLabelValues(cluster, endpoint).Observe(d.Seconds())
}

// Retry counts a retry on the same endpoint.
func (m *Metrics) Retry(cluster, endpoint string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(cluster, endpoint).Inc()
}

// Fallback counts a request leaving endpoint for the next one.
func (m *Metrics) Fallback(cluster, endpoint string) {
	if m == nil {
		return
	}
	m.fallbacks.WithLabelValues(cluster, endpoint).Inc()
}

// Cooldown counts an endpoint put into cooldown.
func (m *Metrics) Cooldown(cluster, endpoint string) {
	if m == nil {
		return
	}
	m.cooldowns.WithLabelValues(cluster, endpoint).Inc()
}

// Tokens adds usage reported by an upstream response.
func (m *Metrics) Tokens(cluster, model string, prompt, completion, total int64) {
	if m == nil {
		return
	}
	if prompt > 0 {
		m.tokens.WithLabelValues(cluster, model, "prompt").Add(float64(prompt))
	}
	if completion > 0 {
		m.tokens.WithLabelValues(cluster, model, "completion").Add(float64(completion))
	}
	if total > 0 {
		m.tokens.WithLabelValues(cluster, model, "total").Add(float64(total))
	}
}

// SetEndpoints sets the number of endpoints of a cluster from a source.
func (m *Metrics) SetEndpoints(cluster, source string, n int) {
	if m == nil {
		return
	}
	m.endpoints.WithLabelValues(cluster, source).Set(float64(n))
}

// DiscoveryEvent counts an endpoint change applied from a registry; typ is add, update or delete.
func (m *Metrics) DiscoveryEvent(registry, typ string) {
	if m == nil {
		return
	}
	m.discoveryEvents.WithLabelValues(registry, typ).Inc()
}

// SetRejected sets how many instances of a registry are currently rejected.
func (m *Metrics) SetRejected(registry string, n int) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(registry).Set(float64(n))
}

// RegistryError counts a failed registry call and marks the registry down.
func (m *Metrics) RegistryError(registry string) {
	if m == nil {
		return
	}
	m.registryErrors.WithLabelValues(registry).Inc()
	m.registryUp.WithLabelValues(registry).Set(0)
}

// RegistrySynced records a successful full read of a registry and marks it up.
func (m *Metrics) RegistrySynced(registry string, at time.Time) {
	if m == nil {
		return
	}
	m.registryUp.WithLabelValues(registry).Set(1)
	m.lastSync.WithLabelValues(registry).Set(float64(at.UnixNano()) / 1e9)
}

func statusClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	case code >= 200:
		return "2xx"
	default:
		return "other"
	}
}
