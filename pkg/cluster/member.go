// Package cluster holds the immutable, request-time view of gateway clusters: members with their
// compiled LLM settings, load balancing, and passive health (cooldown).
package cluster

import (
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// SourceStatic marks endpoints from pixiu.yaml; registry endpoints carry their adapter's id.
const SourceStatic = "static"

// Member is an endpoint of a cluster as requests see it. A Member is never mutated after it was
// published; an update publishes a new Member that shares the old one's Health.
type Member struct {
	Endpoint *model.Endpoint
	Source   string
	// Origin is where an adapter's endpoint comes from (zero for static endpoints).
	Origin model.Origin
	// Target is where requests go, compiled from Endpoint.Address; its Scheme is empty when the
	// address names none.
	Target model.Target
	Retry  retry.Policy
	// Keys are the API keys rotated per request; empty means the client's Authorization passes through.
	Keys []string
	// Index is the member's position in cluster order, used for fallback.
	Index  int
	Health *Health
}

// NewMember compiles ep (see Compile) into a member that keeps its health in h.
func NewMember(ep *model.Endpoint, source string, h *Health) (*Member, error) {
	c, err := Compile(ep)
	if err != nil {
		return nil, err
	}
	return &Member{
		Endpoint: ep,
		Source:   source,
		Target:   c.Target,
		Retry:    c.Retry,
		Keys:     ep.LLMMeta.Keys(),
		Health:   h,
	}, nil
}

// ID is the endpoint id.
func (m *Member) ID() string { return m.Endpoint.ID }

// Fallback reports whether a failure of this member moves the request on to the next member.
func (m *Member) Fallback() bool { return m.Endpoint.LLMMeta != nil && m.Endpoint.LLMMeta.Fallback }

// MaxCooldown caps a member's cooldown: an endpoint is never skipped for longer, whatever its
// health_check_interval says (a huge interval would otherwise overflow into no cooldown at all).
const MaxCooldown = time.Hour

// Cooldown is how long the member is skipped after it exhausted its retries, at most MaxCooldown.
func (m *Member) Cooldown() time.Duration {
	if m.Endpoint.LLMMeta == nil || m.Endpoint.LLMMeta.HealthCheckInterval <= 0 {
		return 0
	}
	ms := min(m.Endpoint.LLMMeta.HealthCheckInterval, MaxCooldown.Milliseconds())
	return time.Duration(ms) * time.Millisecond
}

// Weight is the member's weight for WeightRandom; endpoints without one weigh 1.
func (m *Member) Weight() float64 {
	if m.Endpoint.Weight <= 0 {
		return 1
	}
	return m.Endpoint.Weight
}

// NextKey returns the API key for the next request, rotating through Keys; "" when there is none.
func (m *Member) NextKey() string {
	switch len(m.Keys) {
	case 0:
		return ""
	case 1:
		return m.Keys[0]
	}
	n := m.Health.keyCursor.Add(1) - 1
	return m.Keys[n%uint64(len(m.Keys))]
}

// Health is the mutable passive-health state of an endpoint. It survives updates of the endpoint
// and is read and written with atomics only.
type Health struct {
	cooldownUntil atomic.Int64 // unix nanoseconds
	keyCursor     atomic.Uint64
}

// CoolingDown reports whether the endpoint should be skipped at now.
func (h *Health) CoolingDown(now time.Time) bool {
	return now.UnixNano() < h.cooldownUntil.Load()
}

// CoolDownUntil marks the endpoint to be skipped until t.
func (h *Health) CoolDownUntil(t time.Time) { h.cooldownUntil.Store(t.UnixNano()) }

// Recovered ends a cooldown in progress: the endpoint answered. It writes only when there is a
// cooldown to end, so that answers from a healthy endpoint do not contend on the shared word.
func (h *Health) Recovered(now time.Time) {
	if h.CoolingDown(now) {
		h.cooldownUntil.Store(now.UnixNano())
	}
}

// CooldownEnds is when the current cooldown ends; the zero time when none was ever set.
func (h *Health) CooldownEnds() time.Time {
	n := h.cooldownUntil.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
