// Package grpcnaming is a Nacos 2.x / 3.x naming client over gRPC, written for this gateway on
// nacos-sdk-go v2's generated protocol stubs only (none of that SDK's runtime), so that:
//   - it opens no listening socket: server pushes arrive over the client-initiated gRPC stream;
//   - it writes no file and keeps no process-wide state: nothing outlives Close;
//   - it logs connection events only, never a request, an instance or its metadata.
//
// A Client holds one connection to one of the configured servers at a time. It checks the
// connection's health every few seconds and, when it is lost, connects again (to any configured
// server, with bounded backoff), registers again every instance it registered and subscribes
// again to every service, delivering each one's current list when it differs. Instances
// registered through a Client are ephemeral: they live as long as its connection. Subscriptions
// deliver complete per-service instance lists to a callback.
package grpcnaming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// DefaultGroup is the group of a service registered without one.
const DefaultGroup = "DEFAULT_GROUP"

// PortOffset is Nacos's convention: the gRPC port is the HTTP port + 1000.
const PortOffset = 1000

// Config says which Nacos to talk to and how.
type Config struct {
	// Addresses are the servers' HTTP addresses, "host:port" (8848 by default on Nacos); naming
	// goes to the gRPC port, port + 1000.
	Addresses []string
	// Namespace is the namespace id; empty is the public namespace.
	Namespace string
	// Timeout bounds every call, and every attempt to connect. Required.
	Timeout time.Duration
	// Auth, for a Nacos with auth on, gives the token every request carries; nil: none.
	Auth TokenSource
}

// Client is a Nacos naming client over gRPC. Its methods are safe for concurrent use.
type Client struct {
	addr        string // the configured addresses, for errors
	namespaceID string
	timeout     time.Duration
	servers     []server
	nextServer  int                  // the server to try next; used by New, then by supervise only
	auth        TokenSource          // nil: no login
	current     atomic.Pointer[conn] // nil while not connected
	lastAnswer  atomic.Int64         // unix nanoseconds of the last answer on the current connection
	cancel      context.CancelFunc
	supervised  chan struct{} // closed when the connection's supervisor has ended

	subscribeMu sync.Mutex // serialises Subscribe and Unsubscribe; held across requests
	mu          sync.Mutex // guards the fields below; never held across requests
	closed      bool
	subs        map[string]*subscription     // by group@@service
	registered  map[string]registry.Instance // by group@@service: registered again after a reconnect
	queue       []*subscription              // subscriptions with an undelivered list, in arrival order
	wake        chan struct{}
	delivered   chan struct{} // closed when the delivery goroutine has ended
}

// New connects to Nacos. With cfg.Auth it gets a token first and fails if that is refused. A
// server that cannot be reached is no error: New returns after one attempt per server and the
// client keeps trying in the background, so calls fail until it is connected.
func New(cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.auth != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		_, err := c.auth.Token(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("nacos %s: %w", c.addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	first, _ := c.connectAny(ctx) // no server yet: supervise keeps trying
	c.current.Store(first)
	go c.supervise(ctx, first)
	go c.deliverLoop()
	return c, nil
}

// newClient checks cfg and makes a client that has not connected yet.
func newClient(cfg Config) (*Client, error) {
	servers, err := parseServers(cfg.Addresses)
	if err != nil {
		return nil, err
	}
	addr := strings.Join(cfg.Addresses, ",")
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("nacos %s: timeout must be positive, got %v", addr, cfg.Timeout)
	}
	return &Client{
		addr:        addr,
		namespaceID: cfg.Namespace,
		timeout:     cfg.Timeout,
		servers:     servers,
		auth:        cfg.Auth,
		supervised:  make(chan struct{}),
		subs:        map[string]*subscription{},
		registered:  map[string]registry.Instance{},
		wake:        make(chan struct{}, 1),
		delivered:   make(chan struct{}),
	}, nil
}

// server is one configured Nacos server.
type server struct {
	host string
	port int // HTTP; gRPC is port + PortOffset
}

func (s server) httpAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }
func (s server) grpcAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port+PortOffset)) }

// parseServers parses "host:port" addresses.
func parseServers(addrs []string) ([]server, error) {
	if len(addrs) == 0 {
		return nil, errors.New("nacos: no server address")
	}
	servers := make([]server, 0, len(addrs))
	for _, a := range addrs {
		host, portText, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" {
			return nil, fmt.Errorf("nacos address %q: want host:port", a)
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || port == 0 || port+PortOffset > 65535 {
			return nil, fmt.Errorf("nacos address %q: port must be 1..%d (gRPC uses port + %d)", a, 65535-PortOffset, PortOffset)
		}
		servers = append(servers, server{host: host, port: int(port)})
	}
	return servers, nil
}

// Close ends every subscription, closes the connection (the server then drops this client's
// subscriptions and instances) and stops the client's goroutines. It waits for a callback under
// way to return, so it must not be called from a callback. Calls after Close fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	clear(c.subs)
	clear(c.registered)
	c.queue = nil
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}: // the delivery goroutine sees closed and ends
	default:
	}
	c.cancel() // the supervisor closes the connection as it ends
	<-c.supervised
	<-c.delivered
	return nil
}

func (c *Client) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("nacos %s: client closed", c.addr)
	}
	return nil
}

// usable fails when the client is closed or has no connection right now (it reconnects by
// itself).
func (c *Client) usable() error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if cn := c.current.Load(); cn == nil || !cn.alive() {
		return fmt.Errorf("nacos %s: %w", c.addr, errNotConnected)
	}
	return nil
}

// Connected reports whether the client holds a working connection to a server right now.
func (c *Client) Connected() bool { return c.usable() == nil }
