package tokenizer

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
)

// Label names, as upstream Pixiu's tokenizer exports them.
const (
	labelCluster  = "cluster_name"
	labelEndpoint = "endpoint_id"
	labelAddress  = "endpoint_address"
	labelModel    = "model"
	labelStatus   = "status_code"
	labelError    = "error_type"
)

// Values of the error_type label of pixiu_llm_upstream_requests_failure_total.
const (
	// errorStatus: the endpoint's answer reached the client, with a status other than 2xx.
	errorStatus = "status_code_error"
	// errorNoAnswer: the endpoint used up its attempts without its answer reaching the client;
	// the request went on to the next endpoint, or failed. Each attempt's outcome is in
	// pixiu_llm_upstream_attempts_total.
	errorNoAnswer = "no_answer"
)

// counters are the series upstream's tokenizer exports. Every tokenizer filter of a gateway
// shares one set, registered on the gateway's registry.
type counters struct {
	prompt, completion, total  *prometheus.CounterVec
	requests, success, failure *prometheus.CounterVec
	durationMicros             *prometheus.CounterVec
}

func newCounter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func registerCounters(reg prometheus.Registerer) (*counters, error) {
	c := &counters{
		prompt:     newCounter("pixiu_llm_prompt_tokens_total", "Prompt tokens reported by upstream usage objects.", labelCluster, labelEndpoint, labelModel),
		completion: newCounter("pixiu_llm_completion_tokens_total", "Completion tokens reported by upstream usage objects.", labelCluster, labelEndpoint, labelModel),
		total:      newCounter("pixiu_llm_total_tokens_total", "Total tokens reported by upstream usage objects.", labelCluster, labelEndpoint, labelModel),
		requests: newCounter("pixiu_llm_upstream_requests_total",
			"Endpoints tried per client request (retries on the same endpoint count once).", labelCluster, labelEndpoint, labelAddress),
		success: newCounter("pixiu_llm_upstream_requests_success_total",
			"Endpoints tried whose 2xx answer reached the client.", labelCluster, labelEndpoint, labelAddress, labelStatus),
		failure: newCounter("pixiu_llm_upstream_requests_failure_total",
			"Endpoints tried that failed: a non-2xx answer (status_code_error) or none (no_answer).", labelCluster, labelEndpoint, labelAddress, labelStatus, labelError),
		durationMicros: newCounter("pixiu_llm_total_duration_microseconds_sum_total",
			"Sum of the durations of client requests, from arrival to the end of the answer, in microseconds.", labelCluster, labelStatus),
	}
	for _, vec := range []**prometheus.CounterVec{&c.prompt, &c.completion, &c.total, &c.requests, &c.success, &c.failure, &c.durationMicros} {
		registered, err := registerOrReuse(reg, *vec)
		if err != nil {
			return nil, err
		}
		*vec = registered
	}
	return c, nil
}

// registerOrReuse registers vec, or returns the one a tokenizer of another listener registered.
func registerOrReuse(reg prometheus.Registerer, vec *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(vec)
	if err == nil {
		return vec, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("registering token metrics: %w", err)
}

// count adds a finished request: its tokens, each endpoint it tried, and its duration.
func (c *counters) count(rec *filter.Record, model string, addressOf func(cluster, id string) string) {
	if c == nil {
		return
	}
	cl := rec.Cluster
	if u := rec.Usage; u.Reported {
		c.prompt.WithLabelValues(cl, rec.Endpoint, model).Add(float64(u.Prompt))
		c.completion.WithLabelValues(cl, rec.Endpoint, model).Add(float64(u.Completion))
		c.total.WithLabelValues(cl, rec.Endpoint, model).Add(float64(u.Total))
	}
	status := ""
	if rec.Status > 0 {
		status = strconv.Itoa(rec.Status)
	}
	for _, id := range rec.Tried {
		addr := addressOf(cl, id)
		c.requests.WithLabelValues(cl, id, addr).Inc()
		switch {
		case id != rec.Endpoint:
			c.failure.WithLabelValues(cl, id, addr, "", errorNoAnswer).Inc()
		case rec.Status >= 200 && rec.Status < 300:
			c.success.WithLabelValues(cl, id, addr, status).Inc()
		default:
			c.failure.WithLabelValues(cl, id, addr, status, errorStatus).Inc()
		}
	}
	c.durationMicros.WithLabelValues(cl, status).Add(float64(time.Since(rec.Start).Microseconds()))
}
