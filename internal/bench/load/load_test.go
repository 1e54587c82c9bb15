package load

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketsTileTheValueRange(t *testing.T) {
	prevEnd := int64(0)
	for i := range numBuckets {
		lo, width := bucketRange(i)
		require.Equal(t, prevEnd, lo, "bucket %d must start where bucket %d ended", i, i-1)
		assert.Equal(t, i, bucketOf(lo), "lowest value of bucket %d", i)
		assert.Equal(t, i, bucketOf(lo+width-1), "highest value of bucket %d", i)
		if lo >= subCount {
			assert.LessOrEqual(t, float64(width)/float64(lo), 1.0/halfCount, "relative width of bucket %d", i)
		}
		prevEnd = lo + width
	}
	assert.Equal(t, maxValue+1, prevEnd, "the last bucket ends at the cap")
}

func TestQuantilesExactForSmallValues(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	assert.Equal(t, 100, h.Count())
	assert.Equal(t, time.Duration(50), h.Quantile(0.5))
	assert.Equal(t, time.Duration(99), h.Quantile(0.99))
	assert.Equal(t, time.Duration(100), h.Quantile(0.999))
	assert.Equal(t, time.Duration(100), h.Quantile(1))
	assert.Equal(t, time.Duration(1), h.Quantile(0))
	assert.Equal(t, time.Duration(1), h.Min())
	assert.Equal(t, time.Duration(100), h.Max())
	assert.Equal(t, time.Duration(50), h.Mean()) // 50.5 truncated
}

func TestQuantilesMatchSortedSamplesWithinBucketError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 20000)
	for i := range samples {
		// log-uniform between 10µs and 100ms, like a latency distribution with a tail
		d := time.Duration(float64(10*time.Microsecond) * math.Pow(10, 4*rng.Float64()))
		samples[i] = d
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		rank := int(math.Ceil(q * float64(len(samples))))
		want := samples[rank-1]
		got := h.Quantile(q)
		assert.InEpsilon(t, float64(want), float64(got), 1.0/halfCount, "q=%v", q)
	}
}

func TestHistogramClampsAndMerges(t *testing.T) {
	var a, b Histogram
	a.Record(-5)
	a.Record(time.Duration(maxValue) * 4)
	assert.Equal(t, time.Duration(0), a.Min())
	assert.Equal(t, time.Duration(maxValue), a.Max())

	b.Record(3 * time.Millisecond)
	b.Merge(&a)
	b.Merge(nil)
	b.Merge(&Histogram{})
	assert.Equal(t, 3, b.Count())
	assert.Equal(t, time.Duration(0), b.Min())
	assert.Equal(t, time.Duration(maxValue), b.Max())
	assert.InEpsilon(t, float64(3*time.Millisecond), float64(b.Quantile(0.5)), 0.01)

	var empty Histogram
	assert.Equal(t, time.Duration(0), empty.Quantile(0.99))
	assert.Equal(t, time.Duration(0), empty.Mean())
}

func TestScheduleIsAFixedTimeline(t *testing.T) {
	s, err := NewSchedule(1000, 2*time.Second, 0)
	require.NoError(t, err)
	assert.Equal(t, 2000, s.Count)
	assert.Equal(t, time.Duration(0), s.Offset(0))
	assert.Equal(t, time.Millisecond, s.Offset(1))
	assert.Equal(t, 1999*time.Millisecond, s.Offset(1999))
	assert.Equal(t, 2*time.Second, s.Duration())

	// Offsets come from the index, so a rate with no exact period does not drift.
	s, err = NewSchedule(3000, time.Second, 0)
	require.NoError(t, err)
	assert.Equal(t, 3000, s.Count)
	assert.Equal(t, time.Second, s.Offset(3000))
	assert.Equal(t, time.Duration(333333), s.Offset(1))

	s, err = NewSchedule(5000, 10*time.Second, 1234)
	require.NoError(t, err)
	assert.Equal(t, 1234, s.Count, "max requests caps the timeline")
}

func TestScheduleRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		d    time.Duration
	}{{0, time.Second}, {-1, time.Second}, {100, 0}, {math.Inf(1), time.Second}} {
		_, err := NewSchedule(tc.rate, tc.d, 0)
		assert.Error(t, err, "rate %v duration %v", tc.rate, tc.d)
	}
}

func TestOpenLoopSendsTheWholeTimelineAndCountsErrors(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	req := func(ctx context.Context, rec *Recorder) error {
		n := calls.Add(1)
		if n%10 == 0 {
			return boom
		}
		now := time.Now()
		rec.Chunk(now)
		rec.Chunk(now.Add(time.Millisecond))
		rec.Chunk(now.Add(3 * time.Millisecond))
		return nil
	}
	res, err := OpenLoop{Rate: 2000, Duration: 100 * time.Millisecond, Workers: 4}.Run(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Planned)
	assert.Equal(t, 200, res.Sent)
	assert.Equal(t, 20, res.Errors)
	assert.Equal(t, 180, res.OK)
	assert.Equal(t, "boom", res.FirstError)
	assert.Equal(t, 180, res.Latency.Count(), "failed requests have no latency")
	assert.Equal(t, 180, res.FirstByte.Count())
	assert.Equal(t, 360, res.Gap.Count(), "two gaps per three chunks")
	assert.InEpsilon(t, float64(time.Millisecond), float64(res.Gap.Quantile(0.5)), 0.02)
	assert.InEpsilon(t, float64(2*time.Millisecond), float64(res.Gap.Quantile(0.99)), 0.02)
}

func TestOpenLoopStopsAtTheGraceDeadline(t *testing.T) {
	req := func(ctx context.Context, _ *Recorder) error {
		<-ctx.Done() // a server that never answers
		return ctx.Err()
	}
	res, err := OpenLoop{Rate: 1000, Duration: 20 * time.Millisecond, Workers: 2, Grace: 30 * time.Millisecond}.Run(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 20, res.Planned)
	assert.Less(t, res.Sent, res.Planned, "requests still queued at the deadline are not sent")
	assert.Equal(t, res.Sent, res.Errors)
	assert.Zero(t, res.OK)
}

func TestClosedLoopHonoursMaxRequests(t *testing.T) {
	var calls atomic.Int64
	req := func(context.Context, *Recorder) error { calls.Add(1); return nil }
	res, err := ClosedLoop{Concurrency: 8, Duration: 10 * time.Second, MaxRequests: 500}.Run(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, int64(500), calls.Load())
	assert.Equal(t, 500, res.OK)
	assert.Equal(t, 500, res.Latency.Count())
	assert.Positive(t, res.Throughput())
}

func TestRunRejectsBadConfig(t *testing.T) {
	req := func(context.Context, *Recorder) error { return nil }
	_, err := OpenLoop{Rate: 100, Duration: time.Second}.Run(context.Background(), req)
	assert.ErrorContains(t, err, "workers")
	_, err = OpenLoop{Rate: 0, Duration: time.Second, Workers: 1}.Run(context.Background(), req)
	assert.ErrorContains(t, err, "rate")
	_, err = ClosedLoop{Duration: time.Second}.Run(context.Background(), req)
	assert.ErrorContains(t, err, "concurrency")
	_, err = ClosedLoop{Concurrency: 1}.Run(context.Background(), req)
	assert.ErrorContains(t, err, "duration")
}
