package registryproxy

import (
	"errors"
	"fmt"
	"net"

	"github.com/pixiu-llm/gateway/internal/bench/load"
	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

// GRPCPair counts a Nacos gRPC client's traffic. The client is configured with an HTTP address
// (login goes there) and dials its gRPC port at that port + 1000, so the pair listens on P
// (forwarding to the server's HTTP port) and P+1000 (to its gRPC port).
type GRPCPair struct {
	HTTP  *Proxy
	GRPC  *GRPCProxy
	ports *devserver.PortBlock
}

// StartGRPCPair starts both proxies on a reserved port block; observe sees the lists of both.
func StartGRPCPair(httpUpstream, grpcUpstream string, observe func(Response)) (*GRPCPair, error) {
	block, err := devserver.ReservePorts(2)
	if err != nil {
		return nil, fmt.Errorf("grpc registry proxy ports: %w", err)
	}
	lnHTTP, err := net.Listen("tcp", block.Addr(0))
	if err != nil {
		block.Release()
		return nil, fmt.Errorf("grpc registry proxy: %w", err)
	}
	lnGRPC, err := net.Listen("tcp", block.Addr(1))
	if err != nil {
		_ = lnHTTP.Close()
		block.Release()
		return nil, fmt.Errorf("grpc registry proxy: %w", err)
	}
	h, err := Serve(lnHTTP, httpUpstream, observe)
	if err != nil {
		_ = lnGRPC.Close()
		block.Release()
		return nil, err
	}
	return &GRPCPair{HTTP: h, GRPC: ServeGRPC(lnGRPC, grpcUpstream, observe), ports: block}, nil
}

// Addr is the address to configure as the client's Nacos address.
func (p *GRPCPair) Addr() string { return p.HTTP.Addr() }

// Counts merges both proxies' counts: "METHOD path" keys of HTTP calls, gRPC keys as
// GRPCProxy says.
func (p *GRPCPair) Counts() map[string]int64 {
	out := p.HTTP.Counts()
	for k, v := range p.GRPC.Counts() {
		out[k] += v
	}
	return out
}

// Latencies merges both proxies' response times.
func (p *GRPCPair) Latencies() map[string]*load.Histogram {
	out := p.HTTP.Latencies()
	for k, h := range p.GRPC.Latencies() {
		if out[k] == nil {
			out[k] = h
			continue
		}
		out[k].Merge(h)
	}
	return out
}

// Close stops both proxies and gives the ports back.
func (p *GRPCPair) Close() error {
	err := errors.Join(p.HTTP.Close(), p.GRPC.Close())
	p.ports.Release()
	return err
}
