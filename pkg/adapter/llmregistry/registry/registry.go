// Package registry defines what the LLM registry adapter (dgp.adapter.llmregistrycenter) needs
// to watch a service registry: the Watcher (of one registry entry) and Listener
// interfaces, the factories keyed by protocol, and the conversion of a registered instance into
// a gateway endpoint. The words (registry, registry entry, protocol, watcher) are defined in
// package llmregistry.
//
// A watcher only produces endpoint events; the adapter applies them to the gateway's clusters.
// Adding a protocol means adding a package that calls Register from init.
package registry

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
	"github.com/pixiu-llm/gateway/pkg/metrics"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Defaults of the optional knobs of Config.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultRefreshInterval = 5 * time.Second
	DefaultPageSize        = 500
	// DefaultForgetGrace is how long endpoints of services a registry stopped listing (it
	// restarted empty, or was replaced) stay routed while their providers re-register.
	DefaultForgetGrace = 60 * time.Second
	// TransportHTTP and TransportGRPC are the values of Config.Transport.
	TransportHTTP = "http"
	TransportGRPC = "grpc"
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
	// RefreshInterval is how often the service list and the instance list of every watched
	// service are read (one read each per interval on the HTTP transport). It bounds how long a
	// change takes to be noticed.
	RefreshInterval time.Duration `yaml:"refresh_interval" json:"refresh_interval"`
	// PageSize is the page size used to list services.
	PageSize int `yaml:"page_size" json:"page_size"`
	// ForgetGrace is how long the endpoints of services that a registry no longer lists stay
	// routed when the registry seems to have forgotten them (a successful listing that names
	// none of the services listed before, e.g. a restart that lost its in-memory data). What
	// reappears is applied at once; what is still missing after the grace is removed.
	ForgetGrace time.Duration `yaml:"forget_grace" json:"forget_grace"`
	// Transport is how the registry is read: "http" (the Nacos 1.x HTTP open API, the default)
	// or "grpc" (Nacos 2.x/3.x).
	Transport string `yaml:"transport" json:"transport"`
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
	if c.ForgetGrace == 0 {
		c.ForgetGrace = DefaultForgetGrace
	}
	c.Transport = strings.ToLower(strings.TrimSpace(c.Transport))
	if c.Transport == "" {
		c.Transport = TransportHTTP
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
	if c.ForgetGrace < 0 {
		return fmt.Errorf("forget_grace %v must not be negative", c.ForgetGrace)
	}
	return nil
}

// Event is one endpoint change discovered in a registry.
type Event struct {
	Cluster string
	// Endpoint is the endpoint to add or replace; for a removal, the endpoint last delivered.
	Endpoint *model.Endpoint
	// Service and Instance say where the endpoint comes from (instance key inside the service).
	Service  string
	Instance string
}

// Listener receives what a registry discovers; the adapter core implements it, in the shape of
// upstream Pixiu's registry listener. Calls for one registry are serialized; implementations
// must not call back into the registry.
type Listener interface {
	// OnAddEndpoint adds the endpoint, or replaces the one with the same (cluster, id) entirely.
	// An error means the gateway refused it (for example the id belongs to a static endpoint);
	// the registry then reports the instance as rejected and tries again on its next read.
	OnAddEndpoint(ev Event) error
	// OnRemoveEndpoint removes the endpoint if this registry added it.
	OnRemoveEndpoint(ev Event)
	// Batch runs fn; the OnAddEndpoint and OnRemoveEndpoint calls fn makes are published
	// together when it returns: one new snapshot per changed cluster. fn must not block.
	Batch(fn func())
	// OnRejections receives the registry's complete set of rejected instances whenever it changes.
	OnRejections(rejections []*MetadataError)
}

// Watcher watches one registry entry. Its life: built by a Factory (config checked, nothing started),
// Start (returns at once; watching and retrying happen in the background), Stop.
type Watcher interface {
	// Start begins delivering changes to l. It never blocks on the registry.
	Start(l Listener)
	// Stop unsubscribes and returns once every goroutine the watcher started has ended. It is
	// idempotent and safe to call without Start.
	Stop()
	// Health reports how the watch is going.
	Health() Health
}

// Health is a watcher's view of its connection to the registry, for the admin API.
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
	// Forgotten is set while the registry seems to have forgotten services it listed before
	// and their endpoints are kept routed for the grace period.
	Forgotten *Forgotten
}

// Forgotten describes a registry that stopped listing services it listed before.
type Forgotten struct {
	// Since is when the registry was first seen without them; Until is when the ones still
	// missing will be removed.
	Since, Until time.Time
	// Missing are the services whose endpoints are kept although the registry does not list
	// them (or lists no instance of them), sorted.
	Missing []string
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
type Factory func(cfg Config, env Env) (Watcher, error)

var factories = plugin.NewSet[Factory]("registry protocol", true)

// Register adds the factory of a protocol (case-insensitive). Registering a protocol twice is a
// programming error and panics.
func Register(protocol string, f Factory) { factories.Register(protocol, f) }

// Lookup returns the factory of a protocol.
func Lookup(protocol string) (Factory, bool) { return factories.Lookup(protocol) }

// Protocols lists the registered protocols, sorted.
func Protocols() []string { return factories.Names() }
