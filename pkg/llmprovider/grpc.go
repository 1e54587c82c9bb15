package llmprovider

import (
	"fmt"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
)

// GRPCRegistrar registers provider instances over Nacos 2.x/3.x gRPC. An instance lives as long
// as the registrar's connection: no heartbeat is sent, and a provider whose process dies is gone
// from the registry at once, not after the heartbeat expiry. After a server restart the client
// reconnects and registers its instances again by itself. It opens no listening socket.
type GRPCRegistrar struct {
	client  *grpcnaming.Client
	login   *nacos.Client // nil without a username
	address string
	timeout time.Duration
	secrets *secretList
}

// ConnectGRPC connects to the registry (logging in first when a username is set). It blocks
// for a few seconds when the server cannot be reached; the first Register then waits for the
// connection up to opts.Timeout.
func ConnectGRPC(opts NacosOptions) (*GRPCRegistrar, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	servers, err := nacos.ParseAddresses(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("nacos address: %w", err)
	}
	addrs, _, err := nacos.GRPCAddresses(servers)
	if err != nil {
		return nil, fmt.Errorf("nacos %s: %w", opts.Address, err)
	}
	namespace := strings.TrimSpace(opts.Namespace)
	secrets := &secretList{}
	if opts.Password != "" {
		secrets.add(opts.Password)
	}
	login, err := nacos.LoginClient(nacos.ClientOptions{Address: opts.Address, Namespace: namespace,
		Username: opts.Username, Password: opts.Password, Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("nacos %s: %w", opts.Address, err)
	}
	cfg := grpcnaming.Config{Addresses: addrs, Namespace: namespace, Timeout: opts.Timeout}
	if login != nil {
		cfg.Auth = login
	}
	c, err := grpcnaming.New(cfg)
	if err != nil {
		if login != nil {
			login.Close()
		}
		return nil, fmt.Errorf("%s", secrets.scrub(err.Error()))
	}
	return &GRPCRegistrar{client: c, login: login, address: opts.Address, timeout: opts.Timeout, secrets: secrets}, nil
}

// Register registers inst as an ephemeral instance of this connection, waiting up to the
// timeout for the connection first. One instance per service per registrar.
func (r *GRPCRegistrar) Register(inst Instance) error {
	for _, k := range secretValues(inst.Metadata) {
		r.secrets.add(k)
	}
	deadline := time.Now().Add(r.timeout)
	for !r.client.Connected() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.client.Register(inst.registryInstance()); err != nil {
		return fmt.Errorf("register %s in nacos %s over gRPC: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	return nil
}

// Deregister removes inst from the registry.
func (r *GRPCRegistrar) Deregister(inst Instance) error {
	if err := r.client.Deregister(inst.registryInstance()); err != nil {
		return fmt.Errorf("deregister %s from nacos %s over gRPC: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	return nil
}

// Close closes the connection: the server drops every instance it registered.
func (r *GRPCRegistrar) Close() error {
	err := r.client.Close()
	if r.login != nil {
		r.login.Close()
	}
	return err
}
