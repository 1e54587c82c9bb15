package llmregistry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/metrics/metricstest"
)

// Every configured registry's rejected-instances gauge and error counter are exported at 0 from
// start-up, before any event, so that alerts on them work from the first scrape.
func TestRegistryMetricsStartAtZeroForEveryConfiguredRegistry(t *testing.T) {
	f, err := newAdapter(t, fakeConfig("east", "west"))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	s := metricstest.Parse(t, rec.Body.String())
	for _, metric := range []string{"pixiu_registry_rejected_instances", "pixiu_registry_errors_total"} {
		assert.Equal(t, []string{`{registry="east"}`, `{registry="west"}`}, s.Series(metric))
		for _, name := range []string{"east", "west"} {
			assert.Zero(t, s.Value(t, metric, metricstest.Labels{"registry": name}), "%s{registry=%q}", metric, name)
		}
	}
}
