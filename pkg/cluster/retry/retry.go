// Package retry defines retry policies for upstream attempts on one endpoint and the registry of
// policy factories. Policies register themselves by name from init functions; names are
// case-insensitive.
package retry

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultName is the policy used when an endpoint names none.
const DefaultName = "NoRetry"

// Policy decides how often, and how patiently, one endpoint is tried for one request.
// Implementations are immutable and shared by concurrent requests.
type Policy interface {
	// Name is the policy's registered name.
	Name() string
	// Attempts is the total number of attempts on one endpoint, the first included; at least 1.
	Attempts() int
	// Backoff is the wait before retry n, where n is 1 for the first retry.
	Backoff(n int) time.Duration
	// MaxInterval caps a wait the upstream asks for with Retry-After.
	MaxInterval() time.Duration
}

// Factory builds a policy from its raw config (the JSON or YAML object under retry_policy.config).
// It returns an error that names the offending config key.
type Factory func(config map[string]any) (Policy, error)

var (
	mu        sync.RWMutex
	factories = map[string]factoryEntry{}
)

type factoryEntry struct {
	name    string
	factory Factory
}

// Register adds a policy factory. Registering a name twice is a programming error and panics.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	key := strings.ToLower(name)
	if _, dup := factories[key]; dup {
		panic(fmt.Sprintf("retry: policy %q registered twice", name))
	}
	factories[key] = factoryEntry{name: name, factory: f}
}

// New builds the policy registered under name (case-insensitive); an empty name means DefaultName.
func New(name string, config map[string]any) (Policy, error) {
	if strings.TrimSpace(name) == "" {
		name = DefaultName
	}
	mu.RLock()
	entry, ok := factories[strings.ToLower(strings.TrimSpace(name))]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown retry policy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	p, err := entry.factory(config)
	if err != nil {
		return nil, fmt.Errorf("retry policy %s: %w", entry.name, err)
	}
	return p, nil
}

// Names lists the registered policy names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for _, e := range factories {
		names = append(names, e.name)
	}
	sort.Strings(names)
	return names
}
