// Package metrics defines the gateway's Prometheus metrics. Every method is safe on a nil
// *Metrics, so components can run without metrics (in unit tests, or with metric.enable false).
// Label values are bounded: cluster names, endpoint ids, registry names, model names; never
// request ids or keys.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	streamsCut       *prometheus.CounterVec
	upstreamLatency  *prometheus.HistogramVec
	firstByte        *prometheus.HistogramVec
	tokens           *prometheus.CounterVec
	endpoints        *prometheus.GaugeVec
	discoveryEvents  *prometheus.CounterVec
	rejected         *prometheus.GaugeVec
	registryErrors   *prometheus.CounterVec
	registryUp       *prometheus.GaugeVec
	lastSync         *prometheus.GaugeVec
	consumers        consumerMetrics
	forgotten        *prometheus.GaugeVec

	// mu guards endpointSources, which remembers per cluster the sources reported so far, so a
	// source whose last endpoint left drops to 0 instead of keeping its old count.
	mu              sync.Mutex
	endpointSources map[string]map[string]bool
	// models are the model label values in use; past maxModels new names count as OtherModel.
	// Tokens reads it on every answer, hence the read lock.
	modelsMu sync.RWMutex
	models   map[string]bool
}

// maxModels bounds the model label of the token counter: model names come from requests and
// responses, and a client sending random names must not grow the scrape without bound.
const maxModels = 100

// Label values used when the real one is unknown or would make a label set unbounded.
const (
	// OtherModel stands for every model name past the first maxModels.
	OtherModel = "other"
	// UnknownModel is the model label when a response names none.
	UnknownModel = "unknown"
	// OtherOutcome is the outcome label of an attempt whose outcome is not one of the known ones.
	OtherOutcome = "other"
)

// New creates the collectors on a fresh registry, with the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry:        reg,
		endpointSources: map[string]map[string]bool{},
		models:          map[string]bool{},
		requests: counter("llm_requests_total",
			"Client requests handled by the LLM proxy, by cluster, final endpoint and status class.",
			"cluster", "endpoint", "code"),
		upstreamAttempts: counter("llm_upstream_attempts_total",
			"Attempts sent upstream, by cluster, endpoint and outcome (2xx, 3xx, 4xx, 5xx, error, timeout, canceled, other).",
			"cluster", "endpoint", "outcome"),
		retries: counter("llm_retries_total",
			"Retries on the same endpoint, by cluster and endpoint.",
			"cluster", "endpoint"),
		fallbacks: counter("llm_fallbacks_total",
			"Requests moved on from an endpoint to the next one, by cluster and the endpoint left.",
			"cluster", "endpoint"),
		cooldowns: counter("llm_cooldowns_total",
			"Endpoints put into cooldown after exhausting their retries.",
			"cluster", "endpoint"),
		streamsCut: counter("llm_streams_cut_total",
			"Answers the gateway ended early, by cluster, endpoint and reason (stream_idle: the upstream sent nothing for streamIdleTimeout).",
			"cluster", "endpoint", "reason"),
		upstreamLatency: histogram("llm_upstream_duration_seconds",
			"Duration of upstream attempts until the response ended.",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}, "cluster", "endpoint"),
		firstByte: histogram("llm_time_to_first_byte_seconds",
			"Time from sending an upstream attempt to the first response body byte (first token for streams).",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "cluster", "endpoint"),
		tokens: counter("llm_tokens_total",
			"Tokens reported by upstream usage objects, by cluster, model and kind (prompt, completion, total). Past 100 distinct models, new ones count as model=\"other\".",
			"cluster", "model", "kind"),
		endpoints: gauge("cluster_endpoints",
			"Endpoints per cluster by source (static, or the adapter id).",
			"cluster", "source"),
		discoveryEvents: counter("registry_discovery_events_total",
			"Endpoint changes applied from a registry, by registry and type (add, update, delete).",
			"registry", "type"),
		rejected: gauge("registry_rejected_instances",
			"Registered instances currently not routed because their metadata is invalid.",
			"registry"),
		registryErrors: counter("registry_errors_total",
			"Failed registry calls, by registry.",
			"registry"),
		registryUp: gauge("registry_up",
			"1 when the last registry call succeeded.",
			"registry"),
		lastSync: gauge("registry_last_sync_timestamp_seconds",
			"Unix time of the last successful full read of the registry.",
			"registry"),
		forgotten: gauge("registry_forgotten_services",
			"Services a registry stopped listing (it restarted without its data?) whose endpoints are kept routed for the grace period; 0 when none.",
			"registry"),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.upstreamAttempts, m.retries, m.fallbacks, m.cooldowns, m.streamsCut, m.upstreamLatency,
		m.firstByte, m.tokens, m.endpoints, m.discoveryEvents, m.rejected, m.registryErrors,
		m.registryUp, m.lastSync, m.forgotten,
	)
	m.consumers = newConsumerMetrics(reg)
	return m
}

// counter, gauge and histogram make the gateway's collectors: name without the namespace, help,
// then the label names.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

// Request counts a finished client request; code is the HTTP status sent to the client.
func (m *Metrics) Request(cluster, endpoint string, code int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(cluster, endpoint, StatusClass(code)).Inc()
}

// UpstreamAttempt records one upstream attempt. outcome is a status class ("2xx", "5xx", ...),
// "error", "timeout" or "canceled"; a bare status code ("429") counts as its class and anything
// else as OtherOutcome, so the label stays bounded. d is the attempt's duration.
func (m *Metrics) UpstreamAttempt(cluster, endpoint, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.upstreamAttempts.WithLabelValues(cluster, endpoint, normalizeOutcome(outcome)).Inc()
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

// StreamCut counts an answer ended early; reason is one of a fixed set (such as "stream_idle").
func (m *Metrics) StreamCut(cluster, endpoint, reason string) {
	if m == nil {
		return
	}
	m.streamsCut.WithLabelValues(cluster, endpoint, reason).Inc()
}

// Tokens adds usage reported by an upstream response. An empty model counts as UnknownModel.
func (m *Metrics) Tokens(cluster, model string, prompt, completion, total int64) {
	if m == nil || (prompt <= 0 && completion <= 0 && total <= 0) {
		return
	}
	model = m.modelLabel(model)
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

// SetClusterEndpoints sets the endpoint counts of a cluster for every source at once: bySource
// holds the sources that have endpoints now, and every source reported earlier for the cluster
// but missing from bySource is set to 0.
func (m *Metrics) SetClusterEndpoints(cluster string, bySource map[string]int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for source := range m.endpointSources[cluster] {
		if _, ok := bySource[source]; !ok {
			m.endpoints.WithLabelValues(cluster, source).Set(0)
		}
	}
	for source, n := range bySource {
		m.rememberSourceLocked(cluster, source)
		m.endpoints.WithLabelValues(cluster, source).Set(float64(n))
	}
}

func (m *Metrics) rememberSourceLocked(cluster, source string) {
	sources := m.endpointSources[cluster]
	if sources == nil {
		sources = map[string]bool{}
		m.endpointSources[cluster] = sources
	}
	sources[source] = true
}

// DiscoveryEvent counts an endpoint change applied from a registry; typ is add, update or delete.
func (m *Metrics) DiscoveryEvent(registry, typ string) {
	if m == nil {
		return
	}
	m.discoveryEvents.WithLabelValues(registry, typ).Inc()
}

// RegistryConfigured exports a configured registry's rejected-instances gauge and error counter
// at 0 before its first event, so that alerts and dashboards see the series from start-up.
func (m *Metrics) RegistryConfigured(registry string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(registry).Add(0)
	m.registryErrors.WithLabelValues(registry).Add(0)
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

// RegistryForgotten sets how many services of a registry are kept routed although the registry
// no longer lists them (0 when it is not forgetting).
func (m *Metrics) RegistryForgotten(registry string, forgetting bool, missing int) {
	if m == nil {
		return
	}
	if !forgetting {
		missing = 0
	}
	m.forgotten.WithLabelValues(registry).Set(float64(missing))
}

// Handler serves the metrics in the Prometheus exposition format. On a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// A collector error still serves what could be gathered instead of failing the scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ModelLabel is the value of a model label for model: the name itself for the first 100
// distinct names, OtherModel past them, UnknownModel for "". Plugins that export their own
// series by model use it to stay bounded like the gateway's. Nil-safe: on nil it returns model.
func (m *Metrics) ModelLabel(model string) string {
	if m == nil {
		return model
	}
	return m.modelLabel(model)
}

func (m *Metrics) modelLabel(model string) string {
	if model == "" {
		return UnknownModel
	}
	m.modelsMu.RLock()
	known := m.models[model]
	m.modelsMu.RUnlock()
	if known {
		return model
	}
	m.modelsMu.Lock()
	defer m.modelsMu.Unlock()
	if m.models[model] {
		return model
	}
	if len(m.models) >= maxModels {
		return OtherModel
	}
	m.models[model] = true
	return model
}

func normalizeOutcome(outcome string) string {
	switch outcome {
	case "1xx", "2xx", "3xx", "4xx", "5xx", "error", "timeout", "canceled":
		return outcome
	}
	if code, err := strconv.Atoi(outcome); err == nil && code >= 100 && code <= 599 {
		return StatusClass(code)
	}
	return OtherOutcome
}

// StatusClass is the label value of an HTTP status: "2xx", "4xx", ...
func StatusClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	case code >= 200:
		return "2xx"
	case code >= 100:
		return "1xx"
	default:
		return "other"
	}
}
