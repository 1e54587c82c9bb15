// Package report turns a benchmark run into the markdown that `make bench` prints and writes
// (bin/bench-results.md): the targets with PASS/MISS, then every measurement side by side.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// Machine describes where the run happened.
type Machine struct {
	CPU       string
	Cores     int
	GoVersion string
	OS        string
	// LoadStart and LoadEnd are /proc/loadavg at the start and end: other work on the machine
	// skews every number.
	LoadStart, LoadEnd string
}

// Scale is one scale measurement and whether it failed part way.
type Scale struct {
	*discovery.ScaleResult
	// Registry names the discovery row: the registry and the transport.
	Registry string
	// Push says the registry pushes changes (gRPC): the steady-state request rate is then
	// judged against pushSteadyGoal.
	Push bool
	Err  error
}

// TrialSet is the change trials of one discovery row.
type TrialSet struct {
	// Registry names the row: the registry and the transport.
	Registry string
	// Push says the registry pushes changes (gRPC): register and deregister are then judged
	// against a sub-second goal too.
	Push  bool
	Steps []discovery.Step
}

// Run is everything one benchmark run measured.
type Run struct {
	Started time.Time
	Took    time.Duration
	Command string
	Machine Machine
	// Settings describes the load shapes, for the reader.
	Settings []string

	Dataplane []dataplane.Measurement
	// Variants are the gateways measured beside the static gateway, by one config change each.
	Variants []Variant
	// PeakRSS is each proxy process's VmHWM at the end of the data-plane runs.
	PeakRSS map[string]int64

	Trials []TrialSet
	// RefreshInterval is the adapter's full re-read interval in the discovery gateway.
	RefreshInterval time.Duration
	Churn           *discovery.ChurnResult
	Scales          []Scale
	// RegistryLatency is how long the registry took to answer, by call, over the whole run.
	RegistryLatency map[string]*load.Histogram

	// Notes lists skipped or failed parts, scaled-down settings and other caveats.
	Notes []string
}

// Status of a target.
const (
	Pass = "PASS"
	Miss = "MISS"
	NA   = "n/a"
)

// Target is one row of the targets table.
type Target struct {
	Name, Measured, Goal, Status string
}

// Markdown renders the whole report.
func (r *Run) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmark results\n\n")
	w("- Date: %s (took %s)\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	w("- Machine: %s, %d cores, %s, %s\n", r.Machine.CPU, r.Machine.Cores, r.Machine.OS, r.Machine.GoVersion)
	w("- Load average (1/5/15 min) at start: %s; at end: %s\n", r.Machine.LoadStart, r.Machine.LoadEnd)
	w("- Command: `%s`\n", r.Command)
	w("- The load driver, the stub upstream, the proxies and the registry share these cores; nothing is pinned. Figures are from one run, side by side; compare ratios, not absolutes.\n")
	for _, s := range r.Settings {
		w("- %s\n", s)
	}
	w("\n## Targets\n\n")
	w("| Target | Measured | Goal | Result |\n|---|---|---|---|\n")
	for _, t := range r.Targets() {
		w("| %s | %s | %s | %s |\n", t.Name, t.Measured, t.Goal, t.Status)
	}
	if len(r.Dataplane) > 0 {
		r.writeDataplane(&b)
	}
	if len(r.Trials) > 0 || r.Churn != nil || len(r.Scales) > 0 {
		r.writeDiscovery(&b)
	}
	if len(r.Notes) > 0 {
		w("\n## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
	}
	return b.String()
}

// find returns the measurement of target under the scenario of the given kind (and rate, for
// open-loop kinds), or nil.
func (r *Run) find(kind string, rate float64, target string) *dataplane.Measurement {
	for i := range r.Dataplane {
		m := &r.Dataplane[i]
		if m.Scenario.Kind == kind && m.Target == target && (kind == dataplane.KindSaturation || m.Scenario.Rate == rate) {
			return m
		}
	}
	return nil
}

// added is the difference of a quantile between a target and direct (a difference of
// percentiles, not a percentile of differences).
func added(q float64, target, direct *load.Histogram) time.Duration {
	return target.Quantile(q) - direct.Quantile(q)
}

// Targets evaluates the targets against the run.
func (r *Run) Targets() []Target {
	var out []Target
	// Each data-plane goal is judged for every gateway in turn, in the report's order.
	for _, judge := range []func(gw string) []Target{r.unaryTargets, r.saturationTargets, r.streamingTargets, r.anchorTargets} {
		for _, gw := range []string{dataplane.TargetGatewayStatic, dataplane.TargetGatewayRegistry} {
			out = append(out, judge(gw)...)
		}
	}
	out = append(out, r.variantTargets()...)
	for _, set := range r.Trials {
		out = append(out, r.discoveryTargets(set)...)
	}
	for _, s := range r.Scales {
		if s.ScaleResult != nil {
			out = append(out, scaleTarget(s))
		}
		if s.ScaleResult != nil && s.Push && s.SteadyWindow > 0 {
			out = append(out, steadyTarget(s))
		}
	}
	return append(out, r.churnTargets()...)
}

// unaryTargets judges the latency gw adds over direct at 1k req/s.
func (r *Run) unaryTargets(gw string) []Target {
	direct, m := r.find(dataplane.KindUnary, 1000, dataplane.TargetDirect), r.find(dataplane.KindUnary, 1000, gw)
	if direct == nil || m == nil {
		return nil
	}
	p50 := added(0.5, &m.Result.Latency, &direct.Result.Latency)
	p99 := added(0.99, &m.Result.Latency, &direct.Result.Latency)
	return []Target{
		{"Added latency over direct, unary 1k req/s, p50 — " + gw, Dur(p50), "≤ 100 µs", status(p50 <= 100*time.Microsecond)},
		{"Added latency over direct, unary 1k req/s, p99 — " + gw, Dur(p99), "≤ 1 ms", status(p99 <= time.Millisecond)},
	}
}

// saturationTargets judges gw's saturation throughput against the ReverseProxy floor.
func (r *Run) saturationTargets(gw string) []Target {
	rp, m := r.find(dataplane.KindSaturation, 0, dataplane.TargetReverseProxy), r.find(dataplane.KindSaturation, 0, gw)
	if rp == nil || m == nil || rp.Result.Throughput() == 0 {
		return nil
	}
	ratio := m.Result.Throughput() / rp.Result.Throughput()
	return []Target{{"Saturation throughput vs ReverseProxy — " + gw,
		fmt.Sprintf("%.0f%% (%.0f vs %.0f req/s)", 100*ratio, m.Result.Throughput(), rp.Result.Throughput()), "≥ 90%", status(ratio >= 0.9)}}
}

// streamingTargets judges the time to first byte gw adds to a stream.
func (r *Run) streamingTargets(gw string) []Target {
	direct, m := r.streamPair(gw)
	if direct == nil || m == nil {
		return nil
	}
	p50 := added(0.5, &m.Result.FirstByte, &direct.Result.FirstByte)
	p99 := added(0.99, &m.Result.FirstByte, &direct.Result.FirstByte)
	return []Target{{"Streaming time to first byte added, p50 (p99) — " + gw,
		fmt.Sprintf("%s (%s)", Dur(p50), Dur(p99)), "≤ 1 ms (p50)", status(p50 <= time.Millisecond)}}
}

// anchorTargets judges gw against the published figure at 5k req/s.
func (r *Run) anchorTargets(gw string) []Target {
	direct, m := r.find(dataplane.KindUnary, 5000, dataplane.TargetDirect), r.find(dataplane.KindUnary, 5000, gw)
	if direct == nil || m == nil {
		return nil
	}
	p50 := added(0.5, &m.Result.Latency, &direct.Result.Latency)
	return []Target{{"Published anchor: added p50 at 5k req/s (11–59 µs on 2–4 vCPU, driver elsewhere) — " + gw,
		Dur(p50), "≤ 59 µs", status(p50 <= 59*time.Microsecond)}}
}

// churnTargets judges the hot path's p99 while the registry churns, against each baseline phase.
func (r *Run) churnTargets() []Target {
	c := r.Churn
	if c == nil || c.Quiet.Latency.Count() == 0 || c.Churning.Latency.Count() == 0 {
		return nil
	}
	var out []Target
	churning := c.Churning.Latency.Quantile(0.99)
	for _, base := range []struct {
		name string
		res  *load.Result
	}{
		{"the same update rate to services the gateway does not watch (the gateway's own effect)", &c.Control},
		{"no updates (the whole effect on a shared machine)", &c.Quiet},
	} {
		if base.res.Latency.Count() == 0 {
			continue
		}
		p99 := base.res.Latency.Quantile(0.99)
		change := float64(churning-p99) / float64(p99)
		out = append(out, Target{
			fmt.Sprintf("Hot-path p99 with %.0f endpoint updates/s sent to the registry vs %s", c.SentRate(), base.name),
			fmt.Sprintf("%+.0f%% (%s vs %s)", 100*change, Dur(churning), Dur(p99)), "≤ +10%", status(change <= 0.10)})
	}
	return out
}

// scaleTarget judges the full sync. When the registry itself reports some instances unhealthy
// (heartbeats late under load) the gateway rightly never routes them; if it routes every
// instance the registry reports healthy, the time to 99% stands for the full sync.
func scaleTarget(s Scale) Target {
	name := fmt.Sprintf("Full sync of %d services × %d instances", s.Services, s.Instances/max(s.Services, 1)) + rowSuffix(s.Registry)
	switch {
	case s.Err != nil || s.Sync99 == 0:
		return Target{name, "did not complete", "< 10 s", Miss}
	case s.Sync > 0:
		return Target{name, Dur(s.Sync), "< 10 s", status(s.Sync < 10*time.Second)}
	case s.Healthy >= 0 && s.Routed >= s.Healthy:
		return Target{name, fmt.Sprintf("%s to 99%%; every instance the registry reports healthy (%d of %d) routed", Dur(s.Sync99), s.Healthy, s.Instances),
			"< 10 s", status(s.Sync99 < 10*time.Second)}
	}
	return Target{name, fmt.Sprintf("%s to 99%%; %d of %d routed (registry: %d healthy)", Dur(s.Sync99), s.Routed, s.Instances, s.Healthy), "< 10 s", Miss}
}

// pushSteadyGoal bounds the registry requests per minute at steady state when changes are
// pushed: the service-list re-read, keep-alives and pushes only.
const pushSteadyGoal = 100

func steadyTarget(s Scale) Target {
	return Target{fmt.Sprintf("Registry requests/min at steady state, %d services × %d instances%s", s.Services, s.Instances/max(s.Services, 1), rowSuffix(s.Registry)),
		fmt.Sprintf("%.0f", s.CallsPerMinute()), fmt.Sprintf("≤ %d", pushSteadyGoal), status(s.Err == nil && s.CallsPerMinute() <= pushSteadyGoal)}
}

func (r *Run) streamPair(gw string) (direct, m *dataplane.Measurement) {
	for i := range r.Dataplane {
		x := &r.Dataplane[i]
		if x.Scenario.Kind != dataplane.KindStream {
			continue
		}
		switch x.Target {
		case dataplane.TargetDirect:
			direct = x
		case gw:
			m = x
		}
	}
	return direct, m
}

// rowSuffix names a discovery row in a target's name.
func rowSuffix(registry string) string {
	if registry == "" {
		return ""
	}
	return " — " + registry
}

func status(ok bool) string {
	if ok {
		return Pass
	}
	return Miss
}

// Dur formats a duration for tables: whole µs below 1 ms, ms with two decimals below 100 ms,
// whole ms below 1 s, else seconds with two decimals.
func Dur(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "−", -d
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%s%.0f µs", neg, float64(d)/float64(time.Microsecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%s%.2f ms", neg, float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%s%.0f ms", neg, float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%s%.2f s", neg, d.Seconds())
}

// Bytes formats a byte count in MiB.
func Bytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
