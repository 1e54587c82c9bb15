package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Request sends one request and waits for its whole response. Streaming requests report the
// arrival of each chunk through rec.
type Request func(ctx context.Context, rec *Recorder) error

// Recorder collects the stream timings of one request. The driver resets it between requests.
type Recorder struct {
	firstByte time.Time
	last      time.Time
	gaps      *Histogram
}

// Chunk marks the arrival of a response chunk at t (an SSE event, or a unary body): the first
// one gives the time to first byte, each later one adds the gap since the previous one.
func (r *Recorder) Chunk(t time.Time) {
	if r.firstByte.IsZero() {
		r.firstByte = t
	} else if r.gaps != nil {
		r.gaps.Record(t.Sub(r.last))
	}
	r.last = t
}

// Result is what one run measured. Latency and FirstByte are measured from the scheduled send
// time in open loop and from the actual send time in closed loop.
type Result struct {
	Mode    string  // "open" or "closed"
	Offered float64 // open loop: offered rate (req/s)
	Planned int     // open loop: requests on the timeline
	Sent    int
	OK      int
	Errors  int
	// FirstError is one error message, to say what went wrong when Errors > 0.
	FirstError string
	// Elapsed runs from the first scheduled (or actual) send to the last completion.
	Elapsed   time.Duration
	Latency   Histogram
	FirstByte Histogram
	Gap       Histogram
	// MaxLag is the longest a request waited for a free worker (open loop): the pool falling
	// behind the timeline because responses are slow. It is included in Latency.
	MaxLag time.Duration
}

// Throughput is the rate of successful requests over the run, in req/s.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Merge adds another run of the same shape: counts and histograms add up, Elapsed sums (so
// Throughput is over both runs' time), MaxLag is the larger.
func (r *Result) Merge(o *Result) {
	if r.Mode == "" {
		r.Mode, r.Offered = o.Mode, o.Offered
	}
	r.Planned += o.Planned
	r.Sent += o.Sent
	r.OK += o.OK
	r.Errors += o.Errors
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	r.Elapsed += o.Elapsed
	r.Latency.Merge(&o.Latency)
	r.FirstByte.Merge(&o.FirstByte)
	r.Gap.Merge(&o.Gap)
	r.MaxLag = max(r.MaxLag, o.MaxLag)
}

func (r *Result) String() string {
	return fmt.Sprintf("%s: sent %d ok %d errors %d, %.0f req/s, p50 %v p99 %v p99.9 %v max %v",
		r.Mode, r.Sent, r.OK, r.Errors, r.Throughput(),
		r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Latency.Quantile(0.999), r.Latency.Max())
}

// worker is one goroutine's share of a result; shares are merged at the end, so recording
// takes no lock.
type worker struct {
	res Result
	rec Recorder
}

func (w *worker) do(ctx context.Context, req Request, start time.Time) {
	w.rec = Recorder{gaps: &w.res.Gap}
	err := req(ctx, &w.rec)
	end := time.Now()
	w.res.Sent++
	if err != nil {
		w.res.Errors++
		if w.res.FirstError == "" {
			w.res.FirstError = err.Error()
		}
		return
	}
	w.res.OK++
	w.res.Latency.Record(end.Sub(start))
	if !w.rec.firstByte.IsZero() {
		w.res.FirstByte.Record(w.rec.firstByte.Sub(start))
	}
}

func merge(into *Result, workers []*worker) {
	for _, w := range workers {
		into.Sent += w.res.Sent
		into.OK += w.res.OK
		into.Errors += w.res.Errors
		if into.FirstError == "" {
			into.FirstError = w.res.FirstError
		}
		into.Latency.Merge(&w.res.Latency)
		into.FirstByte.Merge(&w.res.FirstByte)
		into.Gap.Merge(&w.res.Gap)
		into.MaxLag = max(into.MaxLag, w.res.MaxLag)
	}
}

// OpenLoop offers a fixed rate regardless of how fast responses come back.
type OpenLoop struct {
	Rate        float64       // req/s
	Duration    time.Duration // length of the timeline
	MaxRequests int           // cap on the timeline's requests; <= 0: none
	// Workers bounds the requests in flight (and so the connections). A request due while all
	// workers are busy waits for one, and that wait counts in its latency.
	Workers int
	// Grace is how long after the timeline ends stragglers may take before the run is cut
	// (they count as errors, unsent requests as not sent). Default: Duration, at least 5s.
	Grace time.Duration
}

// sendTime is the time a request's latency counts from: its due time, or, when the driver's
// timer woke up after it was due, the wake-up. Timer slack (sub-millisecond sleeps often
// overshoot) is the driver's fault, not the server's; but time the driver spends blocked
// because every worker is still waiting for a response is the server's, and counts: a blocked
// driver does not sleep, so woke stays behind and later requests count from their due time.
func sendTime(due, woke time.Time) time.Time {
	if woke.After(due) {
		return woke
	}
	return due
}

// Run drives req along the schedule. It returns an error only for a bad configuration; failed
// requests are counted in the result.
func (o OpenLoop) Run(ctx context.Context, req Request) (*Result, error) {
	sched, err := NewSchedule(o.Rate, o.Duration, o.MaxRequests)
	if err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		return nil, errors.New("open loop: workers must be positive")
	}
	grace := o.Grace
	if grace <= 0 {
		grace = max(o.Duration, 5*time.Second)
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(sched.Duration()+grace))
	defer cancel()

	jobs := make(chan time.Time, o.Workers)
	workers := make([]*worker, o.Workers)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Go(func() {
			for from := range jobs {
				w.res.MaxLag = max(w.res.MaxLag, time.Since(from))
				w.do(ctx, req, from)
			}
		})
	}

	timer := time.NewTimer(0)
	<-timer.C
	var woke time.Time
dispatch:
	for i := range sched.Count {
		due := start.Add(sched.Offset(i))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
				woke = time.Now()
			case <-ctx.Done():
				break dispatch
			}
		}
		select {
		case jobs <- sendTime(due, woke):
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()

	res := &Result{Mode: "open", Offered: o.Rate, Planned: sched.Count, Elapsed: time.Since(start)}
	merge(res, workers)
	return res, nil
}

// ClosedLoop keeps Concurrency requests in flight back to back: the saturation throughput.
type ClosedLoop struct {
	Concurrency int
	Duration    time.Duration
	MaxRequests int // <= 0: none
	// Grace bounds how long requests in flight at the end may take. Default 5s.
	Grace time.Duration
}

// Run drives req until Duration or MaxRequests is reached.
func (c ClosedLoop) Run(ctx context.Context, req Request) (*Result, error) {
	if c.Concurrency <= 0 {
		return nil, errors.New("closed loop: concurrency must be positive")
	}
	if c.Duration <= 0 {
		return nil, fmt.Errorf("closed loop: duration %v must be positive", c.Duration)
	}
	grace := c.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	start := time.Now()
	stopAt := start.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, stopAt.Add(grace))
	defer cancel()

	var issued atomic.Int64
	workers := make([]*worker, c.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				if c.MaxRequests > 0 && issued.Add(1) > int64(c.MaxRequests) {
					return
				}
				w.do(ctx, req, time.Now())
			}
		})
	}
	wg.Wait()
	res := &Result{Mode: "closed", Elapsed: time.Since(start)}
	merge(res, workers)
	return res, nil
}
