package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/load"
	"github.com/pixiu-llm/gateway/internal/bench/proc"
)

// Names of the targets, in report order.
const (
	TargetDirect          = "direct"
	TargetReverseProxy    = "ReverseProxy"
	TargetGatewayStatic   = "gateway (static)"
	TargetGatewayRegistry = "gateway (registry)"
)

// Target is one way of reaching the stub: directly or through a proxy.
type Target struct {
	Name   string
	URL    string      // chat completions URL
	Header http.Header // sent with every request (e.g. to pick a route)
	// Proc is the proxy's process, whose CPU time is charged to the requests; nil for direct.
	Proc *proc.Process
}

// Kind of scenario.
const (
	KindUnary      = "unary"
	KindStream     = "stream"
	KindSaturation = "saturation"
)

// Scenario is one load shape, run against every target in turn.
type Scenario struct {
	Name string
	Kind string
	// Rate is the offered rate of open-loop scenarios.
	Rate float64
	// Concurrency is the number of back-to-back clients of a saturation scenario.
	Concurrency int
	Duration    time.Duration
	MaxRequests int
	// Warmup runs the same load, unrecorded, before the measured run.
	Warmup time.Duration
}

// Measurement is one scenario against one target.
type Measurement struct {
	Scenario Scenario
	Target   string
	Result   *load.Result
	// CPU is the proxy process's CPU time during the measured run (0 for direct).
	CPU time.Duration
}

// CPUPerRequest is the proxy's CPU time per successful request.
func (m *Measurement) CPUPerRequest() time.Duration {
	if m.CPU == 0 || m.Result.OK == 0 {
		return 0
	}
	return m.CPU / time.Duration(m.Result.OK)
}

// Workers bounds the open-loop driver's requests in flight per target (and its connections).
const Workers = 128

// Rounds splits each scenario's measured duration: targets run in order in the first round
// and in reverse order in the second, so that drift over the run (other tenants, thermal)
// and order effects fall on every target alike. Rounds are merged per target.
const Rounds = 2

// Run runs every scenario against every target. logf reports progress.
func Run(ctx context.Context, scenarios []Scenario, targets []Target, logf func(string, ...any)) ([]Measurement, error) {
	clients := make([]*http.Client, len(targets))
	for i := range targets {
		clients[i] = NewClient(Workers)
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	var out []Measurement
	for _, sc := range scenarios {
		merged := make([]Measurement, len(targets))
		for round := range Rounds {
			part := sc
			part.Duration = sc.Duration / Rounds
			part.MaxRequests = sc.MaxRequests / Rounds
			if round > 0 {
				part.Warmup = 0 // connections and processes are warm from the first round
			}
			for k := range targets {
				i := k
				if round%2 == 1 {
					i = len(targets) - 1 - k
				}
				if err := ctx.Err(); err != nil {
					return out, err
				}
				m, err := runOne(ctx, part, targets[i], clients[i])
				if err != nil {
					return out, fmt.Errorf("%s via %s: %w", sc.Name, targets[i].Name, err)
				}
				if merged[i].Result == nil {
					merged[i] = Measurement{Scenario: sc, Target: targets[i].Name, Result: &load.Result{}}
				}
				merged[i].Result.Merge(m.Result)
				merged[i].CPU += m.CPU
			}
		}
		for _, m := range merged {
			logf("%-40s %-20s %v", sc.Name, m.Target, m.Result)
		}
		out = append(out, merged...)
	}
	return out, nil
}

func runOne(ctx context.Context, sc Scenario, t Target, client *http.Client) (Measurement, error) {
	req := Unary(client, t.URL, t.Header)
	if sc.Kind == KindStream {
		req = Stream(client, t.URL, t.Header)
	}
	drive := func(d time.Duration, maxRequests int) (*load.Result, error) {
		if sc.Kind == KindSaturation {
			return load.ClosedLoop{Concurrency: sc.Concurrency, Duration: d, MaxRequests: maxRequests}.Run(ctx, req)
		}
		return load.OpenLoop{Rate: sc.Rate, Duration: d, MaxRequests: maxRequests, Workers: Workers}.Run(ctx, req)
	}
	if sc.Warmup > 0 {
		if _, err := drive(sc.Warmup, 0); err != nil {
			return Measurement{}, err
		}
	}
	var before proc.Usage
	if t.Proc != nil {
		var err error
		if before, err = t.Proc.Usage(); err != nil {
			return Measurement{}, err
		}
	}
	res, err := drive(sc.Duration, sc.MaxRequests)
	if err != nil {
		return Measurement{}, err
	}
	m := Measurement{Scenario: sc, Target: t.Name, Result: res}
	if t.Proc != nil {
		after, err := t.Proc.Usage()
		if err != nil {
			return Measurement{}, err
		}
		m.CPU = after.CPU - before.CPU
	}
	return m, nil
}
