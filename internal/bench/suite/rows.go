package suite

import (
	"context"
	"fmt"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/discovery"
	"github.com/pixiu-llm/gateway/internal/bench/load"
	"github.com/pixiu-llm/gateway/internal/bench/proc"
	"github.com/pixiu-llm/gateway/internal/bench/registryproxy"
	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// rnacosStartBudget bounds starting r-nacos, a first build included: a cold cargo build took 17
// minutes on this 2-core machine (`make bench` builds it ahead, through `make registry`).
const rnacosStartBudget = 30 * time.Minute

// Transports of the discovery rows.
const (
	TransportHTTP = registry.TransportHTTP
	TransportGRPC = registry.TransportGRPC
)

// registryRow is one row of the discovery benchmarks: a registry, the transport the gateway
// speaks to it, the counting proxy between them, and how providers register.
type registryRow struct {
	// label names the row in the report.
	label string
	// addr is the registry's HTTP address: providers and the health count go there directly.
	addr      string
	transport string
	proxy     countingProxy
	// registrar connects a provider writing to group, able to hold perService instances of
	// one service.
	registrar func(group string, perService int) (*discovery.Registrar, error)
	// cpu reads the registry server's CPU time, -1 when unknown.
	cpu func() time.Duration
}

// countingProxy is the proxy the gateway reaches the registry through.
type countingProxy interface {
	Addr() string
	Counts() map[string]int64
	Latencies() map[string]*load.Histogram
}

// gatewayRegistry is the registry section of a gateway config watching group through the proxy.
func (r *registryRow) gatewayRegistry(s *suite, group string) *registry.Config {
	reg := s.registryConfig(r.proxy.Addr(), group)
	reg.Transport = r.transport
	return reg
}

// httpRow is the Nacos 1.x HTTP row against the suite's registry (Polaris, or -nacos).
func (s *suite) httpRow(watch *discovery.Watch) (*registryRow, func(), error) {
	px, err := registryproxy.Start(s.nacos, watch.Observe)
	if err != nil {
		return nil, nil, err
	}
	row := &registryRow{label: s.registryName() + ", HTTP", addr: s.nacos, transport: TransportHTTP, proxy: px, cpu: s.registryCPU,
		registrar: func(group string, _ int) (*discovery.Registrar, error) { return discovery.NewRegistrar(s.nacos, group) }}
	return row, func() { _ = px.Close() }, nil
}

// grpcRow starts r-nacos and a counting proxy pair in front of it: the Nacos gRPC row.
func (s *suite) grpcRow(ctx context.Context, watch *discovery.Watch) (*registryRow, func(), error) {
	s.logf("starting r-nacos %s for the gRPC row", rnacos.Version)
	sctx, cancel := context.WithTimeout(ctx, rnacosStartBudget)
	defer cancel()
	srv, err := rnacos.Start(sctx, rnacos.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("start r-nacos: %w", err)
	}
	pair, err := registryproxy.StartGRPCPair(srv.Addr(), srv.GRPCAddr(), watch.Observe)
	if err != nil {
		_ = srv.Stop()
		return nil, nil, err
	}
	stop := func() {
		_ = pair.Close()
		if err := srv.Stop(); err != nil {
			s.logf("stop r-nacos: %v", err)
		}
	}
	row := &registryRow{label: "r-nacos " + rnacos.Version + ", gRPC", addr: srv.Addr(), transport: TransportGRPC, proxy: pair,
		registrar: func(group string, perService int) (*discovery.Registrar, error) {
			return discovery.NewGRPCRegistrar(srv.Addr(), group, perService)
		},
		cpu: func() time.Duration {
			u, err := proc.ReadUsage(srv.PID())
			if err != nil {
				return -1
			}
			return u.CPU
		}}
	return row, stop, nil
}
