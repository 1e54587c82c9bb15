package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// grpcPool registers over Nacos gRPC through several connections. A gRPC registrar holds at
// most one instance per service, so the pool gives each instance of a service its own
// connection: the first one that holds nothing of that service yet.
type grpcPool struct {
	clients []*llmprovider.GRPCRegistrar

	mu     sync.Mutex
	holder map[string]int          // instance key → index of the client holding it
	busy   map[string]map[int]bool // service → clients holding one of its instances
}

func newGRPCPool(opts llmprovider.NacosOptions, size int) (*grpcPool, error) {
	p := &grpcPool{holder: map[string]int{}, busy: map[string]map[int]bool{}}
	for range max(size, 1) {
		c, err := llmprovider.ConnectGRPC(opts)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

func instanceKey(in llmprovider.Instance) string {
	return in.Group + "@@" + in.Service + "@" + strconv.FormatUint(in.Port, 10)
}

// take returns the client for in, assigning a free one to a new instance.
func (p *grpcPool) take(in llmprovider.Instance) (*llmprovider.GRPCRegistrar, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := instanceKey(in)
	if i, ok := p.holder[key]; ok {
		return p.clients[i], nil
	}
	svc := in.Group + "@@" + in.Service
	for i := range p.clients {
		if !p.busy[svc][i] {
			if p.busy[svc] == nil {
				p.busy[svc] = map[int]bool{}
			}
			p.busy[svc][i] = true
			p.holder[key] = i
			return p.clients[i], nil
		}
	}
	return nil, fmt.Errorf("more than %d instances of %s: one gRPC connection holds one instance per service", len(p.clients), svc)
}

// release forgets in, returning its client, or nil when no client holds it.
func (p *grpcPool) release(in llmprovider.Instance) *llmprovider.GRPCRegistrar {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := instanceKey(in)
	i, ok := p.holder[key]
	if !ok {
		return nil
	}
	delete(p.holder, key)
	delete(p.busy[in.Group+"@@"+in.Service], i)
	return p.clients[i]
}

func (p *grpcPool) Register(in llmprovider.Instance) error {
	c, err := p.take(in)
	if err != nil {
		return err
	}
	return c.Register(in)
}

// Update registers in again on its connection, which replaces it in the registry.
func (p *grpcPool) Update(in llmprovider.Instance) error { return p.Register(in) }

func (p *grpcPool) Deregister(in llmprovider.Instance) error {
	c := p.release(in)
	if c == nil {
		return fmt.Errorf("%s is not registered here", instanceKey(in))
	}
	return c.Deregister(in)
}

func (p *grpcPool) Close() error {
	var errs []error
	for _, c := range p.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
