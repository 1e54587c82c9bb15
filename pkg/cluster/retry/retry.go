// Package retry defines retry policies for upstream attempts on one endpoint and the registry of
// policy factories. Policies register themselves by name from init functions; names are
// case-insensitive.
package retry

import (
	"fmt"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
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

var factories = plugin.NewSet[Factory]("retry policy", true)

// Register adds a policy factory. Registering a name twice is a programming error and panics.
func Register(name string, f Factory) { factories.Register(name, f) }

// New builds the policy registered under name (case-insensitive); an empty name means DefaultName.
func New(name string, config map[string]any) (Policy, error) {
	if strings.TrimSpace(name) == "" {
		name = DefaultName
	}
	factory, err := factories.Get(name)
	if err != nil {
		return nil, err
	}
	p, err := factory(config)
	if err != nil {
		return nil, fmt.Errorf("retry policy %s: %w", factories.Spelling(name), err)
	}
	return p, nil
}

// Names lists the registered policy names, sorted.
func Names() []string { return factories.Names() }
