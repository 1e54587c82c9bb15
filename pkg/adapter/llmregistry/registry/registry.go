// Package registry defines what a service registry must provide to the LLM registry adapter
// (dgp.adapter.llmregistrycenter): the Registry and Listener interfaces, the factories keyed by
// protocol, and the conversion of a registered instance into a gateway endpoint.
//
// A registry only produces endpoint events; the adapter core applies them to the gateway's
// clusters. Adding a registry kind means adding a package that calls Register from init.
package registry

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"dubbo.apache.org/dubbo-go/v3/remoting"

	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Defaults of the optional knobs of Config.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultRefreshInterval = 5 * time.Second
	DefaultPageSize        = 500
	// MinRefreshInterval keeps a mistyped interval from turning the watch into a busy loop.
	MinRefreshInterval = 100 * time.Millisecond
)

// Config is one entry of the adapter's `registries` map in pixiu.yaml.
type Config struct {
	// Protocol selects the factory, e.g. "nacos".
	Protocol string `yaml:"protocol" json:"protocol"`
	// Address is one or more host:port, comma separated.
	Address string `yaml:"address" json:"address"`
	// Timeout bounds every request to the registry.
	Timeout   time.Duration `yaml:"timeout" json:"timeout"`
	Group     string        `yaml:"group" json:"group"`
	Namespace string        `yaml:"namespace" json:"namespace"`
	Username  string        `yaml:"username" json:"username"`
	Password  string        `yaml:"password" json:"-"`
	// RefreshInterval is how often the full service list and the instance list of every watched
	// service are read again. Pushes from the registry are applied as they arrive; the re-read
	// bounds how long a change the registry did not push (such as the last instance of a service
	// leaving) takes to be noticed.
	RefreshInterval time.Duration `yaml:"refresh_interval" json:"refresh_interval"`
	// PageSize is the page size used to list services.
	PageSize int `yaml:"page_size" json:"page_size"`
}

// WithDefaults returns the config with unset knobs set to their defaults.
func (c Config) WithDefaults() Config {
	c.Protocol = strings.TrimSpace(c.Protocol)
	c.Address = strings.TrimSpace(c.Address)
	c.Group = strings.TrimSpace(c.Group)
	c.Namespace = strings.TrimSpace(c.Namespace)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	return c
}

// Validate checks the settings every registry kind shares.
func (c Config) Validate() error {
	if c.Address == "" {
		return fmt.Errorf("address is empty")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout %v must be positive", c.Timeout)
	}
	if c.RefreshInterval < MinRefreshInterval {
		return fmt.Errorf("refresh_interval %v is below the minimum of %v", c.RefreshInterval, MinRefreshInterval)
	}
	if c.PageSize <= 0 {
		return fmt.Errorf("page_size %d must be positive", c.PageSize)
	}
	return nil
}

// Event is one endpoint change discovered in a registry. Type is remoting.EventTypeAdd,
// EventTypeUpdate (the endpoint replaces the one with the same id entirely) or EventTypeDel.
type Event struct {
	Type    remoting.EventType
	Cluster string
	// Endpoint is the endpoint to add or update; for EventTypeDel, the endpoint last applied.
	Endpoint *model.Endpoint
	// Service and Instance say where the endpoint comes from (instance key inside the service).
	Service  string
	Instance string
}

// Listener receives what a registry discovers. The adapter core implements it. Calls for one
// registry are serialized; implementations must not call back into the registry.
type Listener interface {
	// OnEndpointEvent applies one change. An error means the gateway refused it (for example the
	// id belongs to a static endpoint); the registry then reports the instance as rejected and
	// tries again on its next read.
	OnEndpointEvent(ev Event) error
	// OnRejections receives the registry's complete set of rejected instances whenever it changes.
	OnRejections(rejections []*MetadataError)
}

// Registry watches one registry. Its life: built by a Factory (config checked, nothing started),
// Start (returns at once; watching and retrying happen in the background), Stop.
type Registry interface {
	// Start begins delivering changes to l. It never blocks on the registry.
	Start(l Listener)
	// Stop unsubscribes and returns once every goroutine the registry started has ended. It is
	// idempotent and safe to call without Start.
	Stop()
	// Health reports how the watch is going.
	Health() Health
}

// Health is a registry's view of its own connection, for the admin API.
type Health struct {
	// Address is the address in use (after any environment override).
	Address string
	// Reachable is true when the last full read of the registry (services and instance lists)
	// succeeded.
	Reachable bool
	// LastSync is when the service list was last read completely; zero if never.
	LastSync time.Time
	// LastError is the last failure, without secrets; empty once a read succeeds again.
	LastError string
	// Services are the services being watched, sorted.
	Services []string
}

// Env is what the adapter hands a registry.
type Env struct {
	// Name is the registry's key in the adapter config, used in logs and metrics.
	Name   string
	Logger *slog.Logger
	// Metrics may be nil; its methods are nil-safe.
	Metrics *metrics.Metrics
}

// Factory builds a registry from its config. It validates everything it can and must not
// contact the registry or start goroutines.
type Factory func(cfg Config, env Env) (Registry, error)

var factories = plugin.NewSet[Factory]("registry protocol", true)

// Register adds the factory of a protocol (case-insensitive). Registering a protocol twice is a
// programming error and panics.
func Register(protocol string, f Factory) { factories.Register(protocol, f) }

// Lookup returns the factory of a protocol.
func Lookup(protocol string) (Factory, bool) { return factories.Lookup(protocol) }

// Protocols lists the registered protocols, sorted.
func Protocols() []string { return factories.Names() }
