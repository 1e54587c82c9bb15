package limit

import (
	"context"
	"sync"
	"time"
)

// Store keeps the buckets of every consumer and applies the two operations atomically per
// consumer. Memory is the per-process implementation; a store shared by several gateway
// processes (Redis, a database) implements the same methods with State's arithmetic, and may
// fail: the limiter then admits the request (a limit store outage must not stop the traffic).
type Store interface {
	// Admit takes one request of consumer at now if its limits allow it.
	Admit(ctx context.Context, consumer string, l Limits, now time.Time) (Decision, error)
	// Charge takes tokens from consumer's token bucket at now.
	Charge(ctx context.Context, consumer string, l Limits, tokens int64, now time.Time) error
}

// Memory is a Store in this process's memory. Consumers come from the auth filter's config, so
// there is one entry per configured consumer with limits: nothing needs expiring.
type Memory struct {
	consumers sync.Map // consumer name → *lockedState
}

type lockedState struct {
	mu sync.Mutex
	State
}

// NewMemory returns an empty per-process store.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) state(consumer string) *lockedState {
	if s, ok := m.consumers.Load(consumer); ok {
		return s.(*lockedState)
	}
	s, _ := m.consumers.LoadOrStore(consumer, new(lockedState))
	return s.(*lockedState)
}

// Admit implements Store; it never fails.
func (m *Memory) Admit(_ context.Context, consumer string, l Limits, now time.Time) (Decision, error) {
	s := m.state(consumer)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Admit(l, now), nil
}

// Charge implements Store; it never fails.
func (m *Memory) Charge(_ context.Context, consumer string, l Limits, tokens int64, now time.Time) error {
	s := m.state(consumer)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.State.Charge(l, tokens, now)
	return nil
}
