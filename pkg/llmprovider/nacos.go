package llmprovider

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/clients/nacos_client"
	"github.com/nacos-group/nacos-sdk-go/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
)

// DefaultNamespace is the Nacos namespace used when none is given. The gateway adapter's empty
// default means the same namespace, so a provider and the gateway meet without configuring either.
const DefaultNamespace = "public"

// DefaultGroup is Nacos' own default group.
const DefaultGroup = constant.DEFAULT_GROUP

// NacosOptions says how to reach the registry.
type NacosOptions struct {
	// Address is one or more host:port (an http:// or https:// prefix is allowed), comma separated.
	Address   string
	Namespace string
	Username  string
	Password  string
	// Timeout bounds every request to Nacos. Default 5s.
	Timeout time.Duration
}

// Registrar registers provider instances in Nacos and keeps them alive: nacos-sdk-go sends a
// heartbeat for every ephemeral instance it registered until it is deregistered or the process
// exits.
type Registrar struct {
	client   naming_client.INamingClient
	proxy    naming_client.NamingProxy // plain reads of the instance list, bypassing the SDK cache
	cacheDir string
	address  string
	secrets  *secretList
}

// Connect builds a naming client for the registry. Unless a username is set (the SDK then logs
// in), it does not contact the registry; the first Register does. The SDK's cache (which holds instance metadata, API keys included) lives
// in a private temp dir removed by Close. The SDK's own log is discarded: its lines carry
// request parameters, metadata and access tokens; failures are reported from returned errors
// instead.
func Connect(opts NacosOptions) (*Registrar, error) {
	nacos.PrepareSDK()
	servers, err := nacos.ParseAddresses(opts.Address)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	namespace := strings.TrimSpace(opts.Namespace)
	if namespace == "" {
		namespace = DefaultNamespace
	}
	cacheDir, err := os.MkdirTemp("", "pixiu-llm-nacos-")
	if err != nil {
		return nil, fmt.Errorf("create nacos cache dir: %w", err)
	}
	fail := func(err error) (*Registrar, error) {
		_ = os.RemoveAll(cacheDir)
		return nil, fmt.Errorf("nacos client for %s: %w", opts.Address, err)
	}
	nc := &nacos_client.NacosClient{}
	if err := nc.SetClientConfig(constant.ClientConfig{
		NamespaceId:         namespace,
		TimeoutMs:           uint64(opts.Timeout.Milliseconds()),
		NotLoadCacheAtStart: true,
		CacheDir:            cacheDir,
		LogDir:              cacheDir,
		LogLevel:            "error",
		Username:            opts.Username,
		Password:            opts.Password,
		CustomLogger:        nacos.DiscardLogger{},
	}); err != nil {
		return fail(err)
	}
	if err := nc.SetServerConfig(servers); err != nil {
		return fail(err)
	}
	agent := &http_agent.HttpAgent{}
	if err := nc.SetHttpAgent(agent); err != nil {
		return fail(err)
	}
	client, err := naming_client.NewNamingClient(nc)
	if err != nil {
		return fail(err)
	}
	full, _ := nc.GetClientConfig()
	completed, _ := nc.GetServerConfig()
	proxy, err := naming_client.NewNamingProxy(full, completed, agent)
	if err != nil {
		return fail(err)
	}
	secrets := &secretList{}
	if opts.Password != "" {
		secrets.add(opts.Password)
	}
	return &Registrar{client: &client, proxy: proxy, cacheDir: cacheDir, address: opts.Address, secrets: secrets}, nil
}

// Register registers inst as a healthy, enabled, ephemeral instance. The caller validates the
// instance first (Check); Register only talks to the registry.
func (r *Registrar) Register(inst Instance) error {
	for _, k := range secretValues(inst.Metadata) {
		r.secrets.add(k)
	}
	ok, err := r.client.RegisterInstance(vo.RegisterInstanceParam{
		Ip:          inst.IP,
		Port:        inst.Port,
		Weight:      inst.Weight,
		Enable:      true,
		Healthy:     true,
		Ephemeral:   true,
		Metadata:    inst.Metadata,
		ServiceName: inst.Service,
		GroupName:   inst.group(),
	})
	if err != nil {
		return fmt.Errorf("register %s in nacos %s: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	if !ok {
		return fmt.Errorf("register %s in nacos %s: the registry refused the instance", inst, r.address)
	}
	return nil
}

// Deregister removes inst from the registry and stops its heartbeat.
func (r *Registrar) Deregister(inst Instance) error {
	ok, err := r.client.DeregisterInstance(vo.DeregisterInstanceParam{
		Ip:          inst.IP,
		Port:        inst.Port,
		ServiceName: inst.Service,
		GroupName:   inst.group(),
		Ephemeral:   true,
	})
	if err != nil {
		return fmt.Errorf("deregister %s from nacos %s: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	if !ok {
		return fmt.Errorf("deregister %s from nacos %s: the registry refused", inst, r.address)
	}
	return nil
}

// Present reports whether inst is in its service's instance list on the server, read directly
// (not from the SDK cache, which keeps stale lists).
func (r *Registrar) Present(inst Instance) (bool, error) {
	raw, err := r.proxy.QueryList(inst.group()+constant.SERVICE_INFO_SPLITER+inst.Service, "", 0, false)
	if err != nil {
		return false, fmt.Errorf("read the instances of %s from nacos %s: %s", inst.Service, r.address, r.secrets.scrub(err.Error()))
	}
	var svc model.Service
	if err := json.Unmarshal([]byte(raw), &svc); err != nil {
		return false, fmt.Errorf("read the instances of %s from nacos %s: %w", inst.Service, r.address, err)
	}
	for _, h := range svc.Hosts {
		if h.Ip == inst.IP && h.Port == inst.Port {
			return true, nil
		}
	}
	return false, nil
}

// Close removes the SDK's cache dir. nacos-sdk-go v1 clients cannot be shut down; a process
// that registered instances should deregister them before it exits.
func (r *Registrar) Close() error {
	return os.RemoveAll(r.cacheDir)
}

// secretList holds the secrets a Registrar must never print. It only grows.
type secretList struct {
	mu     sync.Mutex
	values []string
}

func (s *secretList) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

func (s *secretList) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return redact.Text(text, s.values...)
}
