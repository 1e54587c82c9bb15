// Package discovery benchmarks the registry path against a real Nacos-protocol server: how
// long a registry change takes to change the gateway's routing (register, deregister, last
// instance leaving, new service), a full sync at scale, the registry calls the gateway makes
// at steady state, and the hot path's latency while endpoints churn.
package discovery

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/nacos-group/nacos-sdk-go/clients/nacos_client"
	"github.com/nacos-group/nacos-sdk-go/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/vo"

	pixiunacos "github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
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

// Registrar registers and changes instances through nacos-sdk-go v1, as a provider would:
// ephemeral instances kept alive by the SDK's heartbeats (every 5 s). Polaris health-checks
// every Nacos instance by heartbeat (TTL 5 s) whatever its ephemeral flag, so instances without
// heartbeats turn unhealthy, and leave the gateway, after about half a minute.
type Registrar struct {
	client naming_client.INamingClient
	group  string
	dir    string
}

// NewRegistrar connects to the registry at addr ("host:port") for group.
func NewRegistrar(addr, group string) (*Registrar, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: bad port: %w", addr, err)
	}
	dir, err := os.MkdirTemp("", "pixiu-bench-nacos-sdk-")
	if err != nil {
		return nil, fmt.Errorf("nacos sdk dir: %w", err)
	}
	pixiunacos.PrepareSDK()
	nc := &nacos_client.NacosClient{}
	err = nc.SetClientConfig(constant.ClientConfig{
		NamespaceId:         Namespace,
		TimeoutMs:           10000,
		NotLoadCacheAtStart: true,
		CacheDir:            dir,
		LogDir:              dir,
		CustomLogger:        pixiunacos.DiscardLogger{},
	})
	if err == nil {
		err = nc.SetServerConfig([]constant.ServerConfig{{IpAddr: host, Port: port, ContextPath: "/nacos"}})
	}
	if err == nil {
		err = nc.SetHttpAgent(&http_agent.HttpAgent{})
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("nacos client config: %w", err)
	}
	c, err := naming_client.NewNamingClient(nc)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create nacos naming client: %w", err)
	}
	return &Registrar{client: &c, group: group, dir: dir}, nil
}

// Group is the Nacos group the registrar writes to.
func (r *Registrar) Group() string { return r.group }

// Register adds (or replaces) an instance.
func (r *Registrar) Register(in Instance) error {
	ok, err := r.client.RegisterInstance(vo.RegisterInstanceParam{
		Ip: "127.0.0.1", Port: in.Port, Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
		ServiceName: in.Service, GroupName: r.group, Metadata: in.metadata(),
	})
	if err == nil && !ok {
		err = fmt.Errorf("registry refused")
	}
	if err != nil {
		return fmt.Errorf("register %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Update changes an instance's metadata in place.
func (r *Registrar) Update(in Instance) error {
	ok, err := r.client.UpdateInstance(vo.UpdateInstanceParam{
		Ip: "127.0.0.1", Port: in.Port, Weight: 1, Enable: true, Ephemeral: true,
		ServiceName: in.Service, GroupName: r.group, Metadata: in.metadata(),
	})
	if err == nil && !ok {
		err = fmt.Errorf("registry refused")
	}
	if err != nil {
		return fmt.Errorf("update %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Deregister removes an instance.
func (r *Registrar) Deregister(in Instance) error {
	ok, err := r.client.DeregisterInstance(vo.DeregisterInstanceParam{
		Ip: "127.0.0.1", Port: in.Port, ServiceName: in.Service, GroupName: r.group, Ephemeral: true,
	})
	if err == nil && !ok {
		err = fmt.Errorf("registry refused")
	}
	if err != nil {
		return fmt.Errorf("deregister %s/%s port %d: %w", r.group, in.Service, in.Port, err)
	}
	return nil
}

// Close removes the SDK's scratch directory. nacos-sdk-go v1 clients cannot be stopped; their
// heartbeat goroutines end with the process.
func (r *Registrar) Close() { _ = os.RemoveAll(r.dir) }
