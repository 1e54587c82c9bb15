package load

import (
	"fmt"
	"math"
	"time"
)

// Schedule is a fixed-rate send timeline: request i is due at Offset(i) after the start.
type Schedule struct {
	Rate  float64 // requests per second, > 0
	Count int     // number of requests on the timeline
}

// NewSchedule is the timeline of rate req/s lasting duration, capped at maxRequests
// (<= 0: no cap). It refuses a non-positive rate or duration.
func NewSchedule(rate float64, duration time.Duration, maxRequests int) (Schedule, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return Schedule{}, fmt.Errorf("schedule: rate %v req/s must be positive and finite", rate)
	}
	if duration <= 0 {
		return Schedule{}, fmt.Errorf("schedule: duration %v must be positive", duration)
	}
	n := int(math.Floor(rate * duration.Seconds()))
	if maxRequests > 0 {
		n = min(n, maxRequests)
	}
	return Schedule{Rate: rate, Count: max(n, 1)}, nil
}

// Offset is when request i is due, relative to the start. It is computed from i alone, never
// accumulated, so rounding errors do not drift the timeline.
func (s Schedule) Offset(i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.Rate)
}

// Duration is the length of the timeline: the offset one interval after the last request.
func (s Schedule) Duration() time.Duration { return s.Offset(s.Count) }
