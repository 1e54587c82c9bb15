package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWarnLimiterWritesOncePerKeyAndInterval(t *testing.T) {
	l := newWarnLimiter(10 * time.Second)
	t0 := time.Now()
	ok, _ := l.allow("cooldown|a|refused", t0)
	assert.True(t, ok)
	for i := range 5 {
		ok, _ = l.allow("cooldown|a|refused", t0.Add(time.Duration(i)*time.Second))
		assert.False(t, ok)
	}
	ok, _ = l.allow("cooldown|b|refused", t0)
	assert.True(t, ok, "another endpoint has its own interval")
	ok, _ = l.allow("cooldown|a|status 503", t0)
	assert.True(t, ok, "another reason has its own interval")

	ok, suppressed := l.allow("cooldown|a|refused", t0.Add(10*time.Second))
	assert.True(t, ok)
	assert.Equal(t, 5, suppressed)
}

func TestWarnLimiterStaysBounded(t *testing.T) {
	l := newWarnLimiter(time.Second)
	t0 := time.Now()
	for i := range 3 * maxWarnKeys {
		l.allow(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
	}
	assert.LessOrEqual(t, len(l.seen), maxWarnKeys)
}
