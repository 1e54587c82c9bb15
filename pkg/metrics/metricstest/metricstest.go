// Package metricstest scrapes a Prometheus endpoint and reads single series out of the scrape, so
// tests can assert that counters and histograms moved by exact amounts.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Scrape is one parsed scrape, with its raw text.
type Scrape struct {
	Raw      string
	Families map[string]*dto.MetricFamily
}

// Labels selects a series; only the given labels are compared.
type Labels map[string]string

// Get scrapes url (e.g. "http://127.0.0.1:2222/metrics") and parses the text format.
func Get(t testing.TB, url string) *Scrape {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "scrape %s: %s", url, body)
	return Parse(t, string(body))
}

// Parse parses a scrape in the Prometheus text format.
func Parse(t testing.TB, text string) *Scrape {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err, "parsing scrape")
	return &Scrape{Raw: text, Families: families}
}

// Gather reads a registry directly, without serving it; Raw stays empty.
func Gather(t testing.TB, g prometheus.Gatherer) *Scrape {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	s := &Scrape{Families: make(map[string]*dto.MetricFamily, len(families))}
	for _, f := range families {
		s.Families[f.GetName()] = f
	}
	return s
}

// Count is the number of series, in any family, whose labels include labels.
func (s *Scrape) Count(labels Labels) int {
	n := 0
	for name := range s.Families {
		n += len(s.matching(name, labels))
	}
	return n
}

// Has reports whether the scrape has a family of that name.
func (s *Scrape) Has(name string) bool { return s.Families[name] != nil }

// Value returns the value of the counter or gauge series matching labels; 0 when there is no such
// series (a counter that never moved is not exported). It fails the test when several series match.
func (s *Scrape) Value(t testing.TB, name string, labels Labels) float64 {
	t.Helper()
	m := s.find(t, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is neither counter nor gauge", name, labels)
	return 0
}

// Sum adds the values of every counter or gauge series of name matching labels.
func (s *Scrape) Sum(name string, labels Labels) float64 {
	total := 0.0
	for _, m := range s.matching(name, labels) {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return total
}

// HistogramCount returns the sample count of the histogram series matching labels; 0 when absent.
func (s *Scrape) HistogramCount(t testing.TB, name string, labels Labels) uint64 {
	t.Helper()
	m := s.find(t, name, labels)
	if m == nil {
		return 0
	}
	require.NotNil(t, m.Histogram, "%s is not a histogram", name)
	return m.Histogram.GetSampleCount()
}

// HistogramSum returns the sum of observations of the histogram series matching labels.
func (s *Scrape) HistogramSum(t testing.TB, name string, labels Labels) float64 {
	t.Helper()
	m := s.find(t, name, labels)
	if m == nil {
		return 0
	}
	require.NotNil(t, m.Histogram, "%s is not a histogram", name)
	return m.Histogram.GetSampleSum()
}

// Series lists the label sets of name, sorted, for messages.
func (s *Scrape) Series(name string) []string {
	var out []string
	for _, m := range s.matching(name, nil) {
		out = append(out, labelString(m))
	}
	sort.Strings(out)
	return out
}

func (s *Scrape) find(t testing.TB, name string, labels Labels) *dto.Metric {
	t.Helper()
	ms := s.matching(name, labels)
	require.LessOrEqual(t, len(ms), 1, "%s%v matches several series: %v", name, labels, s.Series(name))
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

func (s *Scrape) matching(name string, labels Labels) []*dto.Metric {
	f := s.Families[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		if matches(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func matches(m *dto.Metric, labels Labels) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == k {
				found = lp.GetValue() == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func labelString(m *dto.Metric) string {
	parts := make([]string, 0, len(m.Label))
	for _, lp := range m.Label {
		parts = append(parts, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
