package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// result records n latencies spread evenly from lo to hi over elapsed.
func result(n int, lo, hi time.Duration, elapsed time.Duration) *load.Result {
	r := &load.Result{Mode: "open", Sent: n, OK: n, Planned: n, Elapsed: elapsed}
	for i := range n {
		d := lo + time.Duration(int64(hi-lo)*int64(i)/int64(max(n-1, 1)))
		r.Latency.Record(d)
		r.FirstByte.Record(d / 2)
		r.Gap.Record(time.Millisecond)
	}
	return r
}

func measurement(kind string, rate float64, target string, r *load.Result) dataplane.Measurement {
	return dataplane.Measurement{Scenario: dataplane.Scenario{Name: kind, Kind: kind, Rate: rate}, Target: target, Result: r}
}

func targetByPrefix(t *testing.T, targets []Target, prefix string) Target {
	t.Helper()
	for _, tg := range targets {
		if strings.HasPrefix(tg.Name, prefix) {
			return tg
		}
	}
	t.Fatalf("no target %q in %+v", prefix, targets)
	return Target{}
}

func TestDataplaneTargetsCompareAgainstDirectAndReverseProxy(t *testing.T) {
	r := &Run{Dataplane: []dataplane.Measurement{
		measurement(dataplane.KindUnary, 1000, dataplane.TargetDirect, result(1000, 100*time.Microsecond, 200*time.Microsecond, time.Second)),
		// +50 µs at every rank: p50 and p99 added are 50 µs.
		measurement(dataplane.KindUnary, 1000, dataplane.TargetGatewayStatic, result(1000, 150*time.Microsecond, 250*time.Microsecond, time.Second)),
		// +2 ms: misses both.
		measurement(dataplane.KindUnary, 1000, dataplane.TargetGatewayRegistry, result(1000, 2100*time.Microsecond, 2200*time.Microsecond, time.Second)),
		measurement(dataplane.KindSaturation, 0, dataplane.TargetReverseProxy, result(1000, time.Millisecond, time.Millisecond, time.Second)),
		measurement(dataplane.KindSaturation, 0, dataplane.TargetGatewayStatic, result(950, time.Millisecond, time.Millisecond, time.Second)),
		measurement(dataplane.KindSaturation, 0, dataplane.TargetGatewayRegistry, result(800, time.Millisecond, time.Millisecond, time.Second)),
	}}
	targets := r.Targets()

	p50 := targetByPrefix(t, targets, "Added latency over direct, unary 1k req/s, p50 — gateway (static)")
	assert.Equal(t, Pass, p50.Status)
	assert.Contains(t, []string{"49 µs", "50 µs", "51 µs"}, p50.Measured, "within the histogram's 1.6% buckets")
	assert.Equal(t, Pass, targetByPrefix(t, targets, "Added latency over direct, unary 1k req/s, p99 — gateway (static)").Status)
	assert.Equal(t, Miss, targetByPrefix(t, targets, "Added latency over direct, unary 1k req/s, p50 — gateway (registry)").Status)
	assert.Equal(t, Miss, targetByPrefix(t, targets, "Added latency over direct, unary 1k req/s, p99 — gateway (registry)").Status)

	sat := targetByPrefix(t, targets, "Saturation throughput vs ReverseProxy — gateway (static)")
	assert.Equal(t, Pass, sat.Status)
	assert.True(t, strings.HasPrefix(sat.Measured, "95%"), sat.Measured)
	assert.Equal(t, Miss, targetByPrefix(t, targets, "Saturation throughput vs ReverseProxy — gateway (registry)").Status)
}

// withCPU is m with the process's CPU time over its OK requests set to perRequest each.
func withCPU(m dataplane.Measurement, perRequest time.Duration) dataplane.Measurement {
	m.CPU = perRequest * time.Duration(m.Result.OK)
	return m
}

func TestVariantsAreJudgedAgainstTheStaticGateway(t *testing.T) {
	const auth, routed, tokenizer = "gateway + auth", "gateway (model-routed)", "gateway + tokenizer"
	sat := func(target string, cpu time.Duration) dataplane.Measurement {
		return withCPU(measurement(dataplane.KindSaturation, 0, target, result(1000, time.Millisecond, time.Millisecond, time.Second)), cpu)
	}
	unary := func(target string, lo time.Duration) dataplane.Measurement {
		return measurement(dataplane.KindUnary, 1000, target, result(1000, lo, lo+100*time.Microsecond, time.Second))
	}
	r := &Run{
		Dataplane: []dataplane.Measurement{
			unary(dataplane.TargetDirect, 100*time.Microsecond),
			unary(dataplane.TargetGatewayStatic, 300*time.Microsecond), // 200 µs added
			unary(auth, 310*time.Microsecond),                          // 210 µs added: 105%
			sat(dataplane.TargetGatewayStatic, 100*time.Microsecond),
			sat(auth, 104*time.Microsecond),   // +4%
			sat(routed, 110*time.Microsecond), // +10%
			sat(tokenizer, 120*time.Microsecond),
		},
		Variants: []Variant{
			{Name: auth, About: "auth filter first", MaxCPUIncrease: 0.05},
			{Name: routed, About: "model_routing route", MaxCPUIncrease: 0.05},
			{Name: tokenizer, About: "tokenizer after the proxy"},
		},
	}
	targets := r.Targets()
	authCPU := targetByPrefix(t, targets, "CPU per request at saturation, gateway + auth vs gateway (static)")
	assert.Equal(t, Pass, authCPU.Status, authCPU.Measured)
	assert.Equal(t, "+4.0% (104 µs vs 100 µs)", authCPU.Measured)
	assert.Equal(t, "≤ +5%", authCPU.Goal)
	assert.Equal(t, Miss, targetByPrefix(t, targets, "CPU per request at saturation, gateway (model-routed)").Status)
	for _, tg := range targets {
		assert.NotContains(t, tg.Name, tokenizer, "a variant without a CPU target is reported, not judged")
	}

	md := r.Markdown()
	assert.Contains(t, md, "### Gateway variants, as ratios to gateway (static)")
	assert.Contains(t, md, "| gateway (static) | — | 200 µs | 200 µs | — | 100 µs | — |")
	assert.Regexp(t, `\| gateway \+ auth \| auth filter first \| 2[01]\d µs \(10[3-6]%\) \|`, md, "within the histogram's buckets")
	assert.Contains(t, md, "| 120 µs (120%) |", "the tokenizer's CPU at saturation")
	assert.Contains(t, md, "| gateway + tokenizer | tokenizer after the proxy | — | — | — |", "no unary or stream measured")
}

func step(kind string, change time.Time, seen, applied time.Duration) discovery.Step {
	st := discovery.Step{Kind: kind, Change: change, Applied: change.Add(applied)}
	if seen >= 0 {
		st.Seen = change.Add(seen)
	}
	return st
}

func TestDiscoveryTargetsSplitRegistryAndGatewayDelay(t *testing.T) {
	t0 := time.Now()
	r := &Run{RefreshInterval: 5 * time.Second, Trials: []TrialSet{{Steps: []discovery.Step{
		step(discovery.KindRegister, t0, 2*time.Second, 2*time.Second+500*time.Microsecond),
		step(discovery.KindRegister, t0, 3*time.Second, 3*time.Second+700*time.Microsecond),
		step(discovery.KindDeregister, t0, time.Second, time.Second+800*time.Microsecond),
		// The registry took 20 s, the gateway 6 s after that: longer than a re-read interval.
		step(discovery.KindLastLeaves, t0, 20*time.Second, 26*time.Second),
		{Kind: discovery.KindNewService, Change: t0, Err: errors.New("not routed by the deadline")},
	}}}}
	targets := r.Targets()
	pushed := targetByPrefix(t, targets, "Change applied after it reached the gateway")
	assert.Equal(t, Pass, pushed.Status, pushed.Measured)
	assert.Equal(t, Pass, targetByPrefix(t, targets, discovery.KindRegister).Status)
	assert.Equal(t, Miss, targetByPrefix(t, targets, discovery.KindLastLeaves).Status)
	failed := targetByPrefix(t, targets, discovery.KindNewService)
	assert.Equal(t, Miss, failed.Status)
	assert.Contains(t, failed.Measured, "1 of 1 not applied")

	md := r.Markdown()
	assert.Contains(t, md, "|  | register → routed | 2 |")
	assert.Contains(t, md, "| last read → applied p50 |")
	assert.Contains(t, md, "not routed by the deadline")
}

// The gRPC row sits beside the HTTP one: its own table rows, its own targets, and the push goal
// judged on register and deregister end to end.
func TestGRPCRowBesideHTTP(t *testing.T) {
	t0 := time.Now()
	const http, grpc = "Polaris, HTTP", "r-nacos 0.8.8, gRPC"
	r := &Run{RefreshInterval: 5 * time.Second,
		Trials: []TrialSet{
			{Registry: http, Steps: []discovery.Step{step(discovery.KindRegister, t0, 2*time.Second, 2*time.Second+time.Millisecond)}},
			{Registry: grpc, Push: true, Steps: []discovery.Step{
				step(discovery.KindRegister, t0, 600*time.Millisecond, 601*time.Millisecond),
				step(discovery.KindDeregister, t0, 900*time.Millisecond, 1100*time.Millisecond),
			}},
		},
		Scales: []Scale{
			{Registry: http, ScaleResult: &discovery.ScaleResult{Services: 1000, Instances: 5000, Sync99: 4 * time.Second, Sync: 5 * time.Second}},
			{Registry: grpc, Push: true, ScaleResult: &discovery.ScaleResult{Services: 1000, Instances: 5000, Sync99: 2 * time.Second, Sync: 3 * time.Second,
				SteadyWindow: time.Minute, SteadyTotal: 30, SteadyCalls: map[string]int64{"gRPC ServiceListRequest": 12, "gRPC HealthCheckRequest": 18}}},
		},
	}
	targets := r.Targets()
	assert.Equal(t, Pass, targetByPrefix(t, targets, discovery.KindRegister+" by server push, end to end — "+grpc).Status)
	dereg := targetByPrefix(t, targets, discovery.KindDeregister+" by server push, end to end — "+grpc)
	assert.Equal(t, Miss, dereg.Status, "1.1 s is over the 1 s goal: %s", dereg.Measured)
	for _, tg := range targets {
		assert.NotContains(t, tg.Name, "by server push — "+http, "HTTP polls: no push goal")
	}
	assert.Equal(t, Pass, targetByPrefix(t, targets, "Full sync of 1000 services × 5 instances — "+grpc).Status)
	steady := targetByPrefix(t, targets, "Registry requests/min at steady state, 1000 services × 5 instances — "+grpc)
	assert.Equal(t, Pass, steady.Status)
	assert.Equal(t, "30", steady.Measured)
	for _, tg := range targets {
		assert.NotEqual(t, "Registry requests/min at steady state, 1000 services × 5 instances — "+http, tg.Name, "HTTP reads every service: no such goal")
	}

	md := r.Markdown()
	assert.Contains(t, md, "| "+http+" | register → routed | 1 |")
	assert.Contains(t, md, "| "+grpc+" | register → routed | 1 |")
	assert.Contains(t, md, "| "+grpc+" | deregister → no traffic | 1 |")
	assert.Contains(t, md, "| "+grpc+" | 1000 services × 5 = 5000 |")
	assert.Contains(t, md, "| 30 (gRPC HealthCheckRequest 18, gRPC ServiceListRequest 12) |")
}

// A quick run's churning phases add up to less than two re-read intervals: the applied-updates
// figure says it is not meaningful instead of reporting a bare 0/s.
func TestQuickChurnAppliedNotMeaningful(t *testing.T) {
	c := &discovery.ChurnResult{Quiet: *result(100, time.Millisecond, 2*time.Millisecond, time.Second), PhaseTime: 2 * time.Second,
		UpdatesApplied: 0, ChurnUpdates: discovery.UpdateStats{Sent: 200, Time: 2 * time.Second}}
	r := &Run{RefreshInterval: 5 * time.Second, Churn: c}
	assert.Contains(t, r.Markdown(), "0/s, not meaningful here: the churning phases add up to 2.00 s, less than two of the adapter's re-read intervals (5.00 s each)")
	c.PhaseTime = 10 * time.Second // the full run: 4 rounds of 2.5 s
	assert.Contains(t, r.Markdown(), "endpoint updates the gateway applied while churning: 0/s (")
}

func TestScaleAndChurnTargets(t *testing.T) {
	quiet := result(1000, time.Millisecond, 2*time.Millisecond, time.Second)
	control := result(1000, time.Millisecond, 3*time.Millisecond, time.Second)
	churning := result(1000, time.Millisecond, 3100*time.Microsecond, time.Second)
	r := &Run{
		Scales: []Scale{
			{ScaleResult: &discovery.ScaleResult{Services: 1000, Instances: 5000, Sync99: 9 * time.Second, Sync: 12 * time.Second}},
			{ScaleResult: &discovery.ScaleResult{Services: 200, Instances: 1000, Sync99: 2 * time.Second, Sync: 3 * time.Second}},
			// Never reached 100%, but routes everything the registry reports healthy.
			{ScaleResult: &discovery.ScaleResult{Services: 300, Instances: 1500, Sync99: 4 * time.Second, Routed: 1490, Healthy: 1490}},
			// Missing endpoints the registry says are healthy.
			{ScaleResult: &discovery.ScaleResult{Services: 400, Instances: 2000, Sync99: 4 * time.Second, Routed: 1990, Healthy: 2000}},
		},
		Churn: &discovery.ChurnResult{Quiet: *quiet, Control: *control, Churning: *churning, UpdatesApplied: -1,
			ChurnUpdates: discovery.UpdateStats{Sent: 500, Time: 5 * time.Second}},
	}
	targets := r.Targets()
	assert.Equal(t, Miss, targetByPrefix(t, targets, "Full sync of 1000 services × 5").Status)
	assert.Equal(t, Pass, targetByPrefix(t, targets, "Full sync of 200 services × 5").Status)
	healthyOnly := targetByPrefix(t, targets, "Full sync of 300 services × 5")
	assert.Equal(t, Pass, healthyOnly.Status, healthyOnly.Measured)
	assert.Contains(t, healthyOnly.Measured, "1490 of 1500")
	assert.Equal(t, Miss, targetByPrefix(t, targets, "Full sync of 400 services × 5").Status)
	own := targetByPrefix(t, targets, "Hot-path p99 with 100 endpoint updates/s sent to the registry vs the same update rate")
	assert.Equal(t, Pass, own.Status, own.Measured)
	whole := targetByPrefix(t, targets, "Hot-path p99 with 100 endpoint updates/s sent to the registry vs no updates")
	assert.Equal(t, Miss, whole.Status, whole.Measured)
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0 µs",
		999 * time.Microsecond:   "999 µs",
		1500 * time.Microsecond:  "1.50 ms",
		250 * time.Millisecond:   "250 ms",
		4200 * time.Millisecond:  "4.20 s",
		-300 * time.Microsecond:  "−300 µs",
		-1500 * time.Millisecond: "−1.50 s",
	} {
		assert.Equal(t, want, Dur(d), "%v", time.Duration(d))
	}
	require.Equal(t, "1.5 MiB", Bytes(3<<19))
}

func TestRatioOf(t *testing.T) {
	assert.Equal(t, "300 µs (150%)", ratioOf(300*time.Microsecond, 200*time.Microsecond, true))
	assert.Equal(t, "−10 µs", ratioOf(-10*time.Microsecond, 200*time.Microsecond, true), "no ratio of a negative added latency")
	assert.Equal(t, "300 µs", ratioOf(300*time.Microsecond, -5*time.Microsecond, true), "no ratio to a negative base")
	assert.Equal(t, "—", ratioOf(300*time.Microsecond, 200*time.Microsecond, false))
}
