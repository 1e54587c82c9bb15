// Package load is the benchmark load generator: an open-loop driver that sends on a fixed
// timeline and measures latency from each request's scheduled send time (so a slow server
// cannot hide its queueing by slowing the driver down: no coordinated omission), a closed-loop
// driver for saturation, and a log-linear latency histogram.
package load

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values below subCount nanoseconds get one bucket each; above that every
// power of two is split into halfCount equal buckets, so a bucket is at most 1/64 (1.6%) of
// its lower bound wide and the reported midpoint is within 0.8% of any value in it.
const (
	subBits   = 7
	subCount  = 1 << subBits // 128
	halfCount = subCount / 2 // 64
	// maxValue caps recorded values (about 18 minutes); larger ones count as maxValue.
	maxValue   = int64(1)<<40 - 1
	numBuckets = subCount + (40-subBits)*halfCount
)

// Histogram records durations with bounded relative error in fixed memory. The zero value is
// ready to use. It is not safe for concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// bucketRange is the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	k := i - subCount
	shift := k/halfCount + 1
	mantissa := int64(k%halfCount + halfCount)
	return mantissa << shift, int64(1) << shift
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	v = min(max(v, 0), maxValue)
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() int { return int(h.n) }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the value below or at which
// ceil(q*n) of the recorded values lie, reported as its bucket's midpoint clamped to the exact
// min and max. q <= 0 gives Min; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := bucketRange(i)
			v := lo + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
