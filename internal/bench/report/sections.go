package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/load"
)

func (r *Run) writeDataplane(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n## Data plane\n\n")
	w("Open-loop latency counts from each request's scheduled send time, so queueing behind a slow response is included (no coordinated omission). \"Added\" is the target's percentile minus direct's percentile in the same scenario. CPU/req is the proxy process's user+system CPU time over the run divided by its requests (10 ms tick resolution).\n")
	tables := map[string]func(*strings.Builder, dataplane.Scenario){
		dataplane.KindUnary: r.writeUnary, dataplane.KindStream: r.writeStream, dataplane.KindSaturation: r.writeSaturation,
	}
	for _, sc := range r.scenarios() {
		if table := tables[sc.Kind]; table != nil {
			w("\n### %s\n\n", sc.Name)
			table(b, sc)
		}
	}
	if len(r.Variants) > 0 {
		r.writeVariants(b)
	}
	if len(r.PeakRSS) > 0 {
		w("\n### Memory\n\n| Process | peak RSS (VmHWM) |\n|---|---|\n")
		for _, k := range sortedKeys(r.PeakRSS) {
			w("| %s | %s |\n", k, Bytes(r.PeakRSS[k]))
		}
	}
}

// scenarios are the data-plane scenarios of the run, in the order they ran.
func (r *Run) scenarios() []dataplane.Scenario {
	var scenarios []dataplane.Scenario
	seen := map[string]bool{}
	for _, m := range r.Dataplane {
		if !seen[m.Scenario.Name] {
			seen[m.Scenario.Name] = true
			scenarios = append(scenarios, m.Scenario)
		}
	}
	return scenarios
}

// measurements are the run's measurements of scenario sc, one per target.
func (r *Run) measurements(sc dataplane.Scenario) []dataplane.Measurement {
	var out []dataplane.Measurement
	for _, m := range r.Dataplane {
		if m.Scenario.Name == sc.Name {
			out = append(out, m)
		}
	}
	return out
}

func (r *Run) writeUnary(b *strings.Builder, sc dataplane.Scenario) {
	direct := r.find(sc.Kind, sc.Rate, dataplane.TargetDirect)
	b.WriteString("| Path | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | achieved req/s | errors | CPU/req |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.measurements(sc) {
		h := &m.Result.Latency
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s |\n", m.Target,
			Dur(h.Quantile(0.5)), Dur(h.Quantile(0.99)), Dur(h.Quantile(0.999)),
			addedCell(0.5, h, direct, m), addedCell(0.99, h, direct, m), addedCell(0.999, h, direct, m),
			m.Result.Throughput(), errorsCell(m.Result), cpuCell(&m))
	}
}

func (r *Run) writeStream(b *strings.Builder, sc dataplane.Scenario) {
	direct := r.find(sc.Kind, sc.Rate, dataplane.TargetDirect)
	b.WriteString("| Path | TTFB p50 | TTFB p99 | TTFB added p50 | TTFB added p99 | inter-chunk p50 | inter-chunk p99 | inter-chunk added p50 | inter-chunk added p99 | whole stream p99 | errors | CPU/req |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.measurements(sc) {
		fb, gap := &m.Result.FirstByte, &m.Result.Gap
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Target,
			Dur(fb.Quantile(0.5)), Dur(fb.Quantile(0.99)),
			addedFirstByte(0.5, fb, direct, m), addedFirstByte(0.99, fb, direct, m),
			Dur(gap.Quantile(0.5)), Dur(gap.Quantile(0.99)),
			addedGap(0.5, gap, direct, m), addedGap(0.99, gap, direct, m),
			Dur(m.Result.Latency.Quantile(0.99)), errorsCell(m.Result), cpuCell(&m))
	}
}

func (r *Run) writeSaturation(b *strings.Builder, sc dataplane.Scenario) {
	direct := r.find(sc.Kind, sc.Rate, dataplane.TargetDirect)
	rp := r.find(sc.Kind, 0, dataplane.TargetReverseProxy)
	b.WriteString("| Path | max req/s | vs ReverseProxy | vs direct | p50 | p99 | errors | CPU/req |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.measurements(sc) {
		fmt.Fprintf(b, "| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", m.Target, m.Result.Throughput(),
			ratioCell(m.Result, rp), ratioCell(m.Result, direct),
			Dur(m.Result.Latency.Quantile(0.5)), Dur(m.Result.Latency.Quantile(0.99)), errorsCell(m.Result), cpuCell(&m))
	}
}

func addedCell(q float64, h *load.Histogram, direct *dataplane.Measurement, m dataplane.Measurement) string {
	if direct == nil || m.Target == dataplane.TargetDirect {
		return "—"
	}
	return Dur(added(q, h, &direct.Result.Latency))
}

func addedFirstByte(q float64, h *load.Histogram, direct *dataplane.Measurement, m dataplane.Measurement) string {
	if direct == nil || m.Target == dataplane.TargetDirect {
		return "—"
	}
	return Dur(added(q, h, &direct.Result.FirstByte))
}

func addedGap(q float64, h *load.Histogram, direct *dataplane.Measurement, m dataplane.Measurement) string {
	if direct == nil || m.Target == dataplane.TargetDirect {
		return "—"
	}
	return Dur(added(q, h, &direct.Result.Gap))
}

func ratioCell(res *load.Result, base *dataplane.Measurement) string {
	if base == nil || base.Result.Throughput() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*res.Throughput()/base.Result.Throughput())
}

func errorsCell(res *load.Result) string {
	unsent := res.Planned - res.Sent
	if res.Errors == 0 && unsent <= 0 {
		return "0"
	}
	s := fmt.Sprintf("%d", res.Errors)
	if unsent > 0 {
		s += fmt.Sprintf(" (+%d not sent)", unsent)
	}
	if res.FirstError != "" {
		s += " e.g. " + strings.ReplaceAll(res.FirstError, "|", "/")
	}
	return s
}

func cpuCell(m *dataplane.Measurement) string {
	if m.CPU == 0 {
		return "—"
	}
	return Dur(m.CPUPerRequest())
}

// kindStats are the distributions of one change kind.
type kindStats struct {
	n, failed, unseen   int
	endToEnd, toGateway load.Histogram // change → applied, change → seen
	inGateway           load.Histogram // seen → applied
	inProcess           load.Histogram // last read → applied
	firstErr            string
}

func trialStats(steps []discovery.Step) map[string]*kindStats {
	stats := map[string]*kindStats{}
	for _, k := range discovery.Kinds {
		stats[k] = &kindStats{}
	}
	for _, st := range steps {
		s := stats[st.Kind]
		if s == nil {
			continue
		}
		s.n++
		if st.Err != nil || st.Applied.IsZero() {
			s.failed++
			if s.firstErr == "" && st.Err != nil {
				s.firstErr = st.Err.Error()
			}
			continue
		}
		s.endToEnd.Record(st.Applied.Sub(st.Change))
		if st.Seen.IsZero() {
			s.unseen++
			continue
		}
		s.toGateway.Record(st.Seen.Sub(st.Change))
		s.inGateway.Record(st.Applied.Sub(st.Seen))
		if !st.LastRead.IsZero() {
			s.inProcess.Record(st.Applied.Sub(st.LastRead))
		}
	}
	return stats
}

// pushGoal is the goal of register → routed and deregister → no traffic when the registry
// pushes changes.
const pushGoal = time.Second

func (r *Run) discoveryTargets(set TrialSet) []Target {
	stats := trialStats(set.Steps)
	suffix := rowSuffix(set.Registry)
	out := []Target{}
	if t, ok := appliedTarget(stats, suffix); ok {
		out = append(out, t)
	}
	if set.Push {
		out = append(out, pushTargets(stats, suffix)...)
	}
	for _, k := range discovery.Kinds {
		s := stats[k]
		if s.n == 0 {
			continue
		}
		measured := fmt.Sprintf("p50 %s, p99 %s end to end; p99 %s after reaching the gateway",
			Dur(s.endToEnd.Quantile(0.5)), Dur(s.endToEnd.Quantile(0.99)), Dur(s.inGateway.Quantile(0.99)))
		if s.failed > 0 {
			measured += fmt.Sprintf("; %d of %d not applied by the deadline", s.failed, s.n)
		}
		ok := s.failed == 0 && s.inGateway.Count() > 0 && s.inGateway.Quantile(0.99) <= r.RefreshInterval
		out = append(out, Target{k + " within one re-read interval (" + Dur(r.RefreshInterval) + ") + registry delay" + suffix,
			measured, "seen → applied ≤ " + Dur(r.RefreshInterval), status(ok)})
	}
	return out
}

// appliedTarget judges how long register and deregister took once they reached the gateway.
func appliedTarget(stats map[string]*kindStats, suffix string) (Target, bool) {
	var pushed, pushedInProcess load.Histogram
	failed := 0
	for _, k := range []string{discovery.KindRegister, discovery.KindDeregister} {
		pushed.Merge(&stats[k].inGateway)
		pushedInProcess.Merge(&stats[k].inProcess)
		failed += stats[k].failed
	}
	if pushed.Count() == 0 {
		return Target{}, false
	}
	return Target{"Change applied after it reached the gateway (register, deregister; n=" + fmt.Sprint(pushed.Count()) + "): first registry answer carrying it → routed, p50 (p99); of which in process after the last registry read" + suffix,
		fmt.Sprintf("%s (%s); in process %s (%s)", Dur(pushed.Quantile(0.5)), Dur(pushed.Quantile(0.99)), Dur(pushedInProcess.Quantile(0.5)), Dur(pushedInProcess.Quantile(0.99))),
		"≤ 1 ms", status(pushed.Quantile(0.5) <= time.Millisecond && failed == 0)}, true
}

// pushTargets judge register → routed and deregister → no traffic end to end against pushGoal.
func pushTargets(stats map[string]*kindStats, suffix string) []Target {
	var out []Target
	for _, k := range []string{discovery.KindRegister, discovery.KindDeregister} {
		s := stats[k]
		if s.n == 0 {
			continue
		}
		p99 := s.endToEnd.Quantile(0.99)
		measured := fmt.Sprintf("p99 %s (p50 %s; change → seen p99 %s), n=%d", Dur(p99), Dur(s.endToEnd.Quantile(0.5)), Dur(s.toGateway.Quantile(0.99)), s.n)
		if s.failed > 0 {
			measured += fmt.Sprintf("; %d not applied by the deadline", s.failed)
		}
		out = append(out, Target{k + " by server push, end to end" + suffix, measured, "p99 < " + Dur(pushGoal),
			status(s.failed == 0 && s.endToEnd.Count() > 0 && p99 < pushGoal)})
	}
	return out
}

func (r *Run) writeDiscovery(b *strings.Builder) {
	fmt.Fprintf(b, "\n## Discovery (real Nacos-protocol registries; providers on the module's registrars: llmprovider.Registrar over HTTP, llmprovider.GRPCRegistrar over gRPC)\n")
	if len(r.Trials) > 0 {
		r.writeTrials(b)
	}
	if len(r.Scales) > 0 {
		r.writeScale(b)
	}
	if r.Churn != nil {
		r.writeChurn(b)
	}
	if len(r.RegistryLatency) > 0 {
		r.writeRegistryLatency(b)
	}
}

// writeTrials is the table of registry change → gateway routing times.
func (r *Run) writeTrials(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### Registry change → gateway routing\n\n")
	w("Each change is timed from the provider's registry call returning (change), to the first service or instance list carrying it that the gateway received from the registry (seen, timestamped by a counting proxy between gateway and registry), to the first probe request whose routing showed it (applied: an upper bound, one probe round trip after the fact while probing back to back). Last read is the last such list the gateway received before applying (the adapter applies each read as it completes): last read → applied is the gateway's in-process apply time plus at most one probe round trip. A cluster with its only endpoint gone answers 503, so every change flips one cluster between 200 and 503. Re-read interval of the adapter: %s.\n\n", Dur(r.RefreshInterval))
	w("Over gRPC, \"seen\" is the server's push (or subscription answer) carrying the change, read at the proxy in front of the gRPC port.\n\n")
	w("| Registry | Change | trials | end to end p50 | p99 | change → seen p50 | p99 | seen → applied p50 | p99 | last read → applied p50 | p99 | failed |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, set := range r.Trials {
		writeTrialRows(b, set)
	}
}

// writeTrialRows writes one row per change kind of set.
func writeTrialRows(b *strings.Builder, set TrialSet) {
	stats := trialStats(set.Steps)
	for _, k := range discovery.Kinds {
		s := stats[k]
		if s.n == 0 {
			continue
		}
		fail := fmt.Sprint(s.failed)
		if s.firstErr != "" {
			fail += " e.g. " + strings.ReplaceAll(s.firstErr, "|", "/")
		}
		if s.unseen > 0 {
			fail += fmt.Sprintf(" (%d applied without a matching list at the proxy)", s.unseen)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", set.Registry, k, s.n,
			Dur(s.endToEnd.Quantile(0.5)), Dur(s.endToEnd.Quantile(0.99)),
			Dur(s.toGateway.Quantile(0.5)), Dur(s.toGateway.Quantile(0.99)),
			Dur(s.inGateway.Quantile(0.5)), Dur(s.inGateway.Quantile(0.99)),
			Dur(s.inProcess.Quantile(0.5)), Dur(s.inProcess.Quantile(0.99)), fail)
	}
}

// writeScale is the table of sync times and steady-state cost per registry size.
func (r *Run) writeScale(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### Scale\n\n")
	w("Sync: from starting the gateway process (registry already populated, every instance heartbeating) until its metrics (pixiu_cluster_endpoints) count 99%% and all of the instances as endpoints (polled every 100 ms). Steady state: registry calls counted at the proxy, starting two re-read intervals after the sync (one in a -quick run), since over gRPC the server answers each new subscription with a push that trails the sync; over HTTP every request, over gRPC every request the client sends (unary calls: the service-list re-read, keep-alive health checks), every push the server sends on the client's stream and every HTTP/2 PING (replies and push acknowledgements are not counted). At the end, the registry is asked (directly) how many instances it reports healthy: the gateway routes only those.\n\n")
	w("| Registry | Instances | registering the step's new services | 99%% routed | all routed | gateway CPU to sync | registry CPU during sync | routed / healthy in registry at the end | registry calls/min at steady state | gateway CPU at steady state | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Scales {
		if s.ScaleResult == nil {
			continue
		}
		all := Dur(s.Sync)
		if s.Sync == 0 {
			all = "not reached"
		}
		if s.Err != nil {
			all = "failed: " + strings.ReplaceAll(s.Err.Error(), "|", "/")
		}
		regCPU := "—"
		if s.RegistrySyncCPU >= 0 {
			regCPU = Dur(s.RegistrySyncCPU)
		}
		healthy := "—"
		if s.Healthy >= 0 {
			healthy = fmt.Sprint(s.Healthy)
		}
		steadyCPU, calls := "—", "—"
		if s.SteadyWindow > 0 && s.SteadyTotal > 0 {
			steadyCPU = fmt.Sprintf("%.1f%% of a core", 100*s.SteadyCPU.Seconds()/s.SteadyWindow.Seconds())
			calls = fmt.Sprintf("%.0f (%s)", s.CallsPerMinute(), callBreakdown(s.SteadyCalls, s.SteadyWindow))
		}
		w("| %s | %d services × %d = %d | %s | %s | %s | %s | %s | %d / %s | %s | %s | %s |\n", s.Registry, s.Services, s.Instances/max(s.Services, 1), s.Instances,
			Dur(s.Register), Dur(s.Sync99), all, Dur(s.SyncCPU), regCPU, s.Routed, healthy, calls, steadyCPU, Bytes(s.PeakRSS))
	}
}

// writeChurn is the table of hot-path latency while the registry churns.
func (r *Run) writeChurn(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	c := r.Churn
	w("\n### Churn\n\n")
	applied := "unknown (gateway metrics unavailable)"
	switch {
	case c.PhaseTime > 0 && c.PhaseTime < 2*r.RefreshInterval:
		applied = fmt.Sprintf("%.0f/s, not meaningful here: the churning phases add up to %s, less than two of the adapter's re-read intervals (%s each), so the gateway may read none of the updates (a -quick run)",
			max(c.AppliedRate(), 0), Dur(c.PhaseTime), Dur(r.RefreshInterval))
	case c.AppliedRate() >= 0:
		applied = fmt.Sprintf("%.0f/s", c.AppliedRate())
	}
	w("Hot path: unary requests at a fixed rate to a cluster of registry endpoints, in rounds of three phases: quiet; control (metadata updates at the same rate to as many instances in a group the gateway does not watch: the registry, the provider and the shared cores are as busy, the gateway has nothing to apply); churning (the updates go to the hot cluster's own instances). Updates sent while churning: %.0f/s (%d, %d failed), in control: %.0f/s (%d, %d failed); endpoint updates the gateway applied while churning: %s (the registry's ~1 s view refresh and the adapter's re-read interval coalesce several updates of one instance).\n\n",
		c.ChurnUpdates.Rate(), c.ChurnUpdates.Sent, c.ChurnUpdates.Failed, c.ControlUpdates.Rate(), c.ControlUpdates.Sent, c.ControlUpdates.Failed, applied)
	w("| Phase | requests | p50 | p99 | p99.9 | p99 of each phase, in order | gateway CPU | registry CPU | errors |\n|---|---|---|---|---|---|---|---|---|\n")
	share := func(d time.Duration) string {
		if d < 0 || c.PhaseTime <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f%% of a core", 100*d.Seconds()/c.PhaseTime.Seconds())
	}
	for _, p := range []struct {
		name    string
		res     *load.Result
		p99s    []time.Duration
		gw, reg time.Duration
	}{
		{"quiet", &c.Quiet, c.QuietP99s, c.Gateway.Quiet, c.Registry.Quiet},
		{"control (unwatched updates)", &c.Control, c.ControlP99s, c.Gateway.Control, c.Registry.Control},
		{"churning", &c.Churning, c.ChurningP99s, c.Gateway.Churning, c.Registry.Churning},
	} {
		h := &p.res.Latency
		var each []string
		for _, d := range p.p99s {
			each = append(each, Dur(d))
		}
		w("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", p.name, p.res.Sent, Dur(h.Quantile(0.5)), Dur(h.Quantile(0.99)), Dur(h.Quantile(0.999)),
			strings.Join(each, ", "), share(p.gw), share(p.reg), errorsCell(p.res))
	}
}

// writeRegistryLatency is the table of the registry's response times seen at the counting proxy.
func (r *Run) writeRegistryLatency(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### Registry response times (at the proxy)\n\n| Call | count | p50 | p99 | max |\n|---|---|---|---|---|\n")
	for _, k := range sortedKeys(r.RegistryLatency) {
		h := r.RegistryLatency[k]
		w("| %s | %d | %s | %s | %s |\n", k, h.Count(), Dur(h.Quantile(0.5)), Dur(h.Quantile(0.99)), Dur(h.Max()))
	}
}

func callBreakdown(calls map[string]int64, window time.Duration) string {
	var parts []string
	for _, k := range sortedKeys(calls) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, float64(calls[k])/window.Minutes()))
	}
	return strings.Join(parts, ", ")
}
