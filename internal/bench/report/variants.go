package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/dataplane"
)

// Variant is a gateway measured beside the plain static gateway (dataplane.TargetGatewayStatic)
// in the same run, differing from it by one change of its config. Its figures are reported as
// ratios to the static gateway's.
type Variant struct {
	// Name is its target name in the data-plane measurements.
	Name string
	// About says what differs from the static gateway.
	About string
	// MaxCPUIncrease, when positive, is a target: CPU per request at saturation at most this
	// much above the static gateway's (0.05 is +5%).
	MaxCPUIncrease float64
}

// variantFigures are the figures a variant is compared on, each from the same run.
type variantFigures struct {
	addedP50, addedP99 time.Duration // unary at 1k req/s, over direct
	ttfbP50            time.Duration // streams, added over direct
	cpuSaturation      time.Duration // per request
	cpuStream          time.Duration // per request
	ok                 [3]bool       // unary, stream and saturation measured
}

func (r *Run) variantFigures(target string) variantFigures {
	var f variantFigures
	if direct, m := r.find(dataplane.KindUnary, 1000, dataplane.TargetDirect), r.find(dataplane.KindUnary, 1000, target); direct != nil && m != nil {
		f.addedP50 = added(0.5, &m.Result.Latency, &direct.Result.Latency)
		f.addedP99 = added(0.99, &m.Result.Latency, &direct.Result.Latency)
		f.ok[0] = true
	}
	if direct, m := r.streamPair(target); direct != nil && m != nil {
		f.ttfbP50 = added(0.5, &m.Result.FirstByte, &direct.Result.FirstByte)
		f.cpuStream = m.CPUPerRequest()
		f.ok[1] = true
	}
	if m := r.find(dataplane.KindSaturation, 0, target); m != nil {
		f.cpuSaturation = m.CPUPerRequest()
		f.ok[2] = true
	}
	return f
}

// variantTargets judges the variants that have a CPU target against the static gateway.
func (r *Run) variantTargets() []Target {
	base := r.variantFigures(dataplane.TargetGatewayStatic)
	var out []Target
	for _, v := range r.Variants {
		f := r.variantFigures(v.Name)
		if v.MaxCPUIncrease <= 0 || !f.ok[2] || !base.ok[2] || base.cpuSaturation <= 0 || f.cpuSaturation <= 0 {
			continue
		}
		change := float64(f.cpuSaturation-base.cpuSaturation) / float64(base.cpuSaturation)
		out = append(out, Target{
			fmt.Sprintf("CPU per request at saturation, %s vs %s", v.Name, dataplane.TargetGatewayStatic),
			fmt.Sprintf("%+.1f%% (%s vs %s)", 100*change, Dur(f.cpuSaturation), Dur(base.cpuSaturation)),
			fmt.Sprintf("≤ %+.0f%%", 100*v.MaxCPUIncrease), status(change <= v.MaxCPUIncrease)})
	}
	return out
}

func (r *Run) writeVariants(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	base := r.variantFigures(dataplane.TargetGatewayStatic)
	w("\n### Gateway variants, as ratios to %s\n\n", dataplane.TargetGatewayStatic)
	w("Each variant is a gateway process of its own, measured in the same run and the same rounds as the others; it differs from %s by the one change named. Added latency is over direct (unary at 1k req/s; time to first byte of the SSE streams); CPU/req is the gateway process's CPU time per request. In parentheses: the ratio to %s's figure.\n\n",
		dataplane.TargetGatewayStatic, dataplane.TargetGatewayStatic)
	w("| Gateway | differs by | added p50, unary 1k/s | added p99, unary 1k/s | TTFB added p50, SSE | CPU/req at saturation | CPU/req, SSE |\n|---|---|---|---|---|---|---|\n")
	w("| %s | — | %s | %s | %s | %s | %s |\n", dataplane.TargetGatewayStatic,
		ratioOf(base.addedP50, 0, base.ok[0]), ratioOf(base.addedP99, 0, base.ok[0]), ratioOf(base.ttfbP50, 0, base.ok[1]),
		ratioOf(base.cpuSaturation, 0, base.ok[2]), ratioOf(base.cpuStream, 0, base.ok[1]))
	for _, v := range r.Variants {
		f := r.variantFigures(v.Name)
		w("| %s | %s | %s | %s | %s | %s | %s |\n", v.Name, strings.ReplaceAll(v.About, "|", "/"),
			ratioOf(f.addedP50, base.addedP50, f.ok[0]), ratioOf(f.addedP99, base.addedP99, f.ok[0]),
			ratioOf(f.ttfbP50, base.ttfbP50, f.ok[1]), ratioOf(f.cpuSaturation, base.cpuSaturation, f.ok[2]),
			ratioOf(f.cpuStream, base.cpuStream, f.ok[1]))
	}
}

// ratioOf is "value (ratio to base)". The ratio is left out unless both are positive: a
// negative added latency (the path did better than direct in that tail) has no ratio.
func ratioOf(value, base time.Duration, measured bool) string {
	if !measured {
		return "—"
	}
	if base <= 0 || value <= 0 {
		return Dur(value)
	}
	return fmt.Sprintf("%s (%.0f%%)", Dur(value), 100*float64(value)/float64(base))
}
