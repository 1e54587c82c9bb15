package nacos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
)

func init() {
	RegisterTransport(registry.TransportGRPC, newGRPCSource)
}

// errNotConnected is returned by reads made before the first successful connection.
var errNotConnected = errors.New("not connected yet")

// grpcSource reads a registry over Nacos 2.x/3.x gRPC: the service list is re-read each pass,
// instance lists arrive by push. The client is created lazily by the first ListServices call:
// creating it blocks for seconds against an unreachable server, which neither New nor Start may.
type grpcSource struct {
	s     Settings
	cfg   grpcnaming.Config
	grpc  string // the gRPC addresses, for errors
	dial  func(ctx context.Context, addr string) error
	newFn func(grpcnaming.Config) (namingClient, error)
	// login logs in over the HTTP API for the gRPC client when a username is set; nil otherwise.
	login *Client

	mu     sync.Mutex // guards the fields below; never held across a client call
	client namingClient
	closed bool
	subs   map[string]*pushGuard
}

// namingClient is the part of grpcnaming.Client the source uses.
type namingClient interface {
	Services(group string) ([]string, error)
	Instances(service, group string) ([]registry.Instance, error)
	Subscribe(service, group string, onChange func([]registry.Instance)) error
	Unsubscribe(service, group string) error
	Close() error
}

func newGRPCSource(s Settings, _ registry.Env) (base.Source, error) {
	addrs, grpcAddrs, err := GRPCAddresses(s.Servers)
	if err != nil {
		return nil, fmt.Errorf("nacos registry %q: %w", s.Name, err)
	}
	g := &grpcSource{
		s:     s,
		cfg:   grpcnaming.Config{Addresses: addrs, Namespace: s.Namespace, Timeout: s.Timeout},
		grpc:  strings.Join(grpcAddrs, ","),
		dial:  dialTCP,
		newFn: func(c grpcnaming.Config) (namingClient, error) { return grpcnaming.New(c) },
		subs:  map[string]*pushGuard{},
	}
	if g.login, err = LoginClient(s.ClientOptions()); err != nil {
		return nil, fmt.Errorf("nacos registry %q: %w", s.Name, err)
	}
	if g.login != nil {
		g.cfg.Auth = g.login
	}
	return g, nil
}

// GRPCAddresses returns the servers' HTTP host:port (what grpcnaming.Config takes) and their
// gRPC host:port (+1000). The gRPC connection is plaintext on the same host, so an https
// address or another context path than /nacos is refused rather than half honoured.
func GRPCAddresses(servers []Server) (httpAddrs, grpcAddrs []string, err error) {
	for _, sv := range servers {
		if sv.Scheme != "http" || sv.ContextPath != defaultContextPath {
			return nil, nil, fmt.Errorf("address %s%s: the grpc transport takes host:port only (login over http at %s)",
				sv.Host, sv.ContextPath, defaultContextPath)
		}
		if sv.Port+grpcnaming.PortOffset > 65535 {
			return nil, nil, fmt.Errorf("port %d: the gRPC port (port + %d) is above 65535", sv.Port, grpcnaming.PortOffset)
		}
		host := strings.Trim(sv.Host, "[]")
		httpAddrs = append(httpAddrs, net.JoinHostPort(host, strconv.Itoa(sv.Port)))
		grpcAddrs = append(grpcAddrs, net.JoinHostPort(host, strconv.Itoa(sv.Port+grpcnaming.PortOffset)))
	}
	return httpAddrs, grpcAddrs, nil
}

// dialTCP checks that something accepts connections at addr, within ctx.
func dialTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// ListServices reads the group's service list, connecting first if not yet connected.
func (g *grpcSource) ListServices(ctx context.Context) ([]string, error) {
	c, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	names, err := c.Services(g.s.Group)
	if err != nil {
		return nil, fmt.Errorf("nacos registry %q: %w", g.s.Name, err)
	}
	return names, nil
}

// connect returns the client, creating it on first use. It is only called from the watch's
// goroutine, so no two creations overlap. Before creating it, one of the gRPC ports must accept
// a connection within ctx: creating a client against an unreachable server blocks for seconds,
// whatever ctx says.
func (g *grpcSource) connect(ctx context.Context) (namingClient, error) {
	if c, err := g.current(); c != nil || err != nil {
		return c, err
	}
	if err := g.reachable(ctx); err != nil {
		return nil, err
	}
	c, err := g.newFn(g.cfg)
	if err != nil {
		return nil, fmt.Errorf("nacos registry %q: %w", g.s.Name, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		_ = c.Close()
		return nil, fmt.Errorf("nacos registry %q: closed", g.s.Name)
	}
	g.client = c
	return c, nil
}

func (g *grpcSource) current() (namingClient, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, fmt.Errorf("nacos registry %q: closed", g.s.Name)
	}
	return g.client, nil
}

// reachable succeeds when any gRPC port accepts a connection.
func (g *grpcSource) reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.s.Timeout)
	defer cancel()
	var errs []error
	for _, addr := range strings.Split(g.grpc, ",") {
		err := g.dial(ctx, addr)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("nacos registry %q: gRPC port %s unreachable: %w", g.s.Name, g.grpc, errors.Join(errs...))
}

// ReadInstances reads a service's instance list from the server.
func (g *grpcSource) ReadInstances(ctx context.Context, service string) ([]registry.Instance, error) {
	c, err := g.connected(ctx)
	if err != nil {
		return nil, err
	}
	return c.Instances(service, g.s.Group)
}

// connected returns the client once it exists, without creating it.
func (g *grpcSource) connected(ctx context.Context) (namingClient, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := g.current()
	if err == nil && c == nil {
		err = fmt.Errorf("nacos registry %q: %w", g.s.Name, errNotConnected)
	}
	return c, err
}

// Subscribe starts the pushes of service. push is never called after Unsubscribe returned.
func (g *grpcSource) Subscribe(service string, push func([]registry.Instance)) error {
	c, err := g.connected(context.Background())
	if err != nil {
		return err
	}
	guard := &pushGuard{push: push, active: true}
	if err := c.Subscribe(service, g.s.Group, guard.deliver); err != nil {
		return err
	}
	g.mu.Lock()
	g.subs[service] = guard
	g.mu.Unlock()
	return nil
}

// Unsubscribe ends the pushes of service.
func (g *grpcSource) Unsubscribe(service string) error {
	g.mu.Lock()
	guard := g.subs[service]
	delete(g.subs, service)
	c := g.client
	g.mu.Unlock()
	if guard != nil {
		guard.stop()
	}
	if c == nil {
		return fmt.Errorf("nacos registry %q: %w", g.s.Name, errNotConnected)
	}
	return c.Unsubscribe(service, g.s.Group)
}

// Close closes the client; the server then drops its subscriptions.
func (g *grpcSource) Close() {
	g.mu.Lock()
	c := g.client
	g.client, g.closed = nil, true
	guards := g.subs
	g.subs = map[string]*pushGuard{}
	g.mu.Unlock()
	for _, guard := range guards {
		guard.stop()
	}
	if c != nil {
		_ = c.Close()
	}
	if g.login != nil {
		g.login.Close()
	}
}

// LoginClient is the HTTP client a gRPC client logs in through (its TokenSource), or nil when
// o has no username. It contacts no server until a token is asked for.
func LoginClient(o ClientOptions) (*Client, error) {
	if o.Username == "" {
		return nil, nil
	}
	return NewClient(o)
}

// pushGuard stops a subscription's pushes for good: a delivery already picked by the client may
// otherwise still reach the watch after Unsubscribe returned.
type pushGuard struct {
	mu     sync.Mutex
	push   func([]registry.Instance)
	active bool
}

func (p *pushGuard) deliver(list []registry.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active {
		p.push(list)
	}
}

func (p *pushGuard) stop() {
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
}
