// Package discovery benchmarks the registry path against a real Nacos-protocol server: how
// long a registry change takes to change the gateway's routing (register, deregister, last
// instance leaving, new service), a full sync at scale, the registry calls the gateway makes
// at steady state, and the hot path's latency while endpoints churn.
package discovery

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// Namespace is the Nacos namespace every benchmark uses.
const Namespace = "public"

// Instance is a registry instance whose metadata routes the gateway to Target.
type Instance struct {
	Service string
	// Port identifies the instance in the registry (with ip 127.0.0.1); nothing listens on it.
	Port uint64
	// Cluster and ID become the gateway endpoint's cluster and id.
	Cluster, ID string
	// TargetPort is the metadata port override: where the gateway sends the requests.
	TargetPort int
	// Name is the metadata name (churn changes it).
	Name string
}

func (in Instance) metadata() map[string]string {
	md := map[string]string{
		"cluster": in.Cluster,
		"id":      in.ID,
		"ip":      "127.0.0.1",
		"port":    strconv.Itoa(in.TargetPort),
	}
	if in.Name != "" {
		md["name"] = in.Name
	}
	return md
}

// Registrar registers and changes instances as a provider would, with the module's own
// registrars: over HTTP, llmprovider.Registrar (the one `pixiu llm register` uses): ephemeral
// instances kept alive by heartbeats every 5 s. Polaris health-checks every Nacos instance by
// heartbeat (TTL 5 s) whatever its ephemeral flag, so instances without heartbeats turn
// unhealthy, and leave the gateway, after about half a minute. Over gRPC, a pool of
// llmprovider.GRPCRegistrar connections (see grpcPool).
type Registrar struct {
	reg   providerClient
	group string
}

// providerClient is what a registrar does with the registry.
type providerClient interface {
	Register(llmprovider.Instance) error
	Update(llmprovider.Instance) error
	Deregister(llmprovider.Instance) error
	Close() error
}

// registrarTimeout bounds every registry call of a provider.
const registrarTimeout = 30 * time.Second

// NewRegistrar connects to the registry at addr ("host:port") for group, over the Nacos 1.x HTTP API.
func NewRegistrar(addr, group string) (*Registrar, error) {
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: addr, Namespace: Namespace, Timeout: registrarTimeout})
	if err != nil {
		return nil, err
	}
	return &Registrar{reg: reg, group: group}, nil
}

// NewGRPCRegistrar connects to the registry at addr (its HTTP "host:port"; gRPC on port + 1000)
// for group, over Nacos gRPC, with enough connections to hold perService instances of one
// service. The instances live as long as the registrar.
func NewGRPCRegistrar(addr, group string, perService int) (*Registrar, error) {
	pool, err := newGRPCPool(llmprovider.NacosOptions{Address: addr, Namespace: Namespace, Timeout: registrarTimeout}, perService)
	if err != nil {
		return nil, err
	}
	return &Registrar{reg: pool, group: group}, nil
}

// Group is the Nacos group the registrar writes to.
func (r *Registrar) Group() string { return r.group }

func (r *Registrar) instance(in Instance) llmprovider.Instance {
	return llmprovider.Instance{Service: in.Service, Group: r.group, IP: "127.0.0.1", Port: in.Port, Weight: 1, Metadata: in.metadata()}
}

// Register adds (or replaces) an instance.
func (r *Registrar) Register(in Instance) error {
	if err := r.reg.Register(r.instance(in)); err != nil {
		return fmt.Errorf("register %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Update changes an instance's metadata in place.
func (r *Registrar) Update(in Instance) error {
	if err := r.reg.Update(r.instance(in)); err != nil {
		return fmt.Errorf("update %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Deregister removes an instance.
func (r *Registrar) Deregister(in Instance) error {
	if err := r.reg.Deregister(r.instance(in)); err != nil {
		return fmt.Errorf("deregister %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Close stops the heartbeats (the instances then expire in the registry) or, over gRPC, closes
// the connections (the registry drops their instances at once).
func (r *Registrar) Close() { _ = r.reg.Close() }
