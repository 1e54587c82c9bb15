package cluster

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pixiu-llm/gateway/pkg/model"
)

func TestCooldownIsCappedInsteadOfOverflowing(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want time.Duration
	}{
		{0, 0},
		{-5, 0},
		{5000, 5 * time.Second},
		{MaxCooldown.Milliseconds(), MaxCooldown},
		{MaxCooldown.Milliseconds() + 1, MaxCooldown},
		{math.MaxInt64 / 1000, MaxCooldown}, // overflows time.Duration when multiplied out
		{math.MaxInt64, MaxCooldown},
	} {
		m := &Member{Endpoint: &model.Endpoint{LLMMeta: &model.LLMMeta{HealthCheckInterval: tc.ms}}}
		assert.Equal(t, tc.want, m.Cooldown(), "health_check_interval %d", tc.ms)
	}
	assert.Zero(t, (&Member{Endpoint: &model.Endpoint{}}).Cooldown(), "no llm_meta, no cooldown")
}

func TestRecoveredEndsACooldown(t *testing.T) {
	now := time.Now()
	h := new(Health)
	h.Recovered(now)
	assert.True(t, h.CooldownEnds().IsZero(), "nothing to end, nothing written")

	h.CoolDownUntil(now.Add(time.Hour))
	assert.True(t, h.CoolingDown(now))
	h.Recovered(now)
	assert.False(t, h.CoolingDown(now))
	assert.Equal(t, now.UnixNano(), h.CooldownEnds().UnixNano(), "the cooldown ended now")
}
