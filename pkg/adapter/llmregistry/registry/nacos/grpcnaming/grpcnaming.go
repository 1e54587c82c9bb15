// Package grpcnaming is a Nacos 2.x / 3.x naming client over gRPC. It drives nacos-sdk-go v2's
// gRPC naming proxy without v2's NamingClient, so that:
//   - it opens no listening socket: NamingClient starts a UDP push receiver that answers anyone
//     with its cache (instance metadata, API keys included); here server pushes arrive over the
//     client-initiated gRPC stream only;
//   - it writes no file: the SDK's service cache is pointed where nothing can be created;
//   - it prints nothing: the SDK's process-wide logger is replaced by one that discards.
//
// Subscriptions deliver complete per-service instance lists to a callback; after the server
// restarts, the SDK reconnects and subscribes again by itself, and registered instances are
// registered again. Instances registered through a Client are ephemeral: they live as long as
// its connection.
package grpcnaming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_cache"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/nacos_server"
)

// DefaultGroup is the group of a service registered without one.
const DefaultGroup = constant.DEFAULT_GROUP

// PortOffset is Nacos's convention: the gRPC port is the HTTP port + 1000.
const PortOffset = constant.RpcPortOffset

const grpcPortOffset = PortOffset

// Config says which Nacos to talk to and how.
type Config struct {
	// Addresses are the servers' HTTP addresses, "host:port" (8848 by default on Nacos). Login
	// goes there; naming goes to the gRPC port, port + 1000.
	Addresses []string
	// Namespace is the namespace id; empty is the public namespace.
	Namespace string
	// Timeout bounds every call (the SDK retries a failed request within it). Required.
	Timeout time.Duration
	// Username and Password log in to a Nacos with auth on. Empty Username: no login.
	Username, Password string
}

// Client is a Nacos naming client over gRPC. Its methods are safe for concurrent use.
type Client struct {
	addr        string // the configured addresses, for errors
	namespaceID string
	cancel      context.CancelFunc
	proxy       *naming_grpc.NamingGrpcProxy
	holder      *naming_cache.ServiceInfoHolder

	subscribeMu sync.Mutex // serialises Subscribe and Unsubscribe; held across SDK calls
	mu          sync.Mutex // guards the fields below; never held across SDK calls
	closed      bool
	subs        map[string]*subscription
	registered  map[string]string // service key -> instance ip:port
	queue       []*subscription   // subscriptions with an undelivered list, in arrival order
	wake        chan struct{}
	delivered   chan struct{} // closed when the delivery goroutine has ended
}

// New connects to Nacos. It logs in first when a username is set and fails if that is refused.
// A server that cannot be reached is no error: New returns after a few quick attempts and the
// client keeps trying in the background, so calls fail until it is connected.
func New(cfg Config) (*Client, error) {
	servers, err := serverConfigs(cfg.Addresses)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("nacos %s: timeout must be positive, got %v", strings.Join(cfg.Addresses, ","), cfg.Timeout)
	}
	prepareSDK()
	c := &Client{
		addr:        strings.Join(cfg.Addresses, ","),
		namespaceID: cfg.Namespace,
		subs:        map[string]*subscription{},
		registered:  map[string]string{},
		wake:        make(chan struct{}, 1),
		delivered:   make(chan struct{}),
	}
	cc := clientConfig(cfg)
	agent := &loginAgent{}
	if err := checkLogin(cc, servers, agent); err != nil {
		return nil, fmt.Errorf("nacos %s: %w", c.addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	server, err := nacos_server.NewNacosServer(ctx, servers, cc, agent, cc.TimeoutMs, "", nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("nacos %s: %w", c.addr, err)
	}
	// The holder is the SDK's service cache: pushes and re-subscriptions reach the callbacks
	// through it. Its disk cache dir lies under os.DevNull, which is not a directory, so its
	// writes fail (silently: the logger discards) and no instance metadata reaches the disk.
	c.holder = naming_cache.NewServiceInfoHolder(cc.NamespaceId, os.DevNull, true, true)
	c.proxy, err = naming_grpc.NewNamingGrpcProxy(ctx, cc, server, c.holder)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("nacos %s: create gRPC naming proxy: %w", c.addr, err)
	}
	c.cancel = cancel
	go c.deliverLoop()
	return c, nil
}

// clientConfig is the SDK configuration for cfg. Each request gets half of cfg.Timeout: the SDK
// retries a failed request while its own timeout has not passed, so a call can take up to about
// twice that.
func clientConfig(cfg Config) constant.ClientConfig {
	return constant.ClientConfig{
		NamespaceId:          cfg.Namespace,
		TimeoutMs:            uint64(max(cfg.Timeout/2, time.Millisecond) / time.Millisecond),
		Username:             cfg.Username,
		Password:             cfg.Password,
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true, // the last instance leaving is a change like any other
		LogLevel:             "error",
		AppName:              "pixiu-gateway",
	}
}

// serverConfigs parses "host:port" addresses.
func serverConfigs(addrs []string) ([]constant.ServerConfig, error) {
	if len(addrs) == 0 {
		return nil, errors.New("nacos: no server address")
	}
	servers := make([]constant.ServerConfig, 0, len(addrs))
	for _, a := range addrs {
		host, portText, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" {
			return nil, fmt.Errorf("nacos address %q: want host:port", a)
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || port == 0 || port+grpcPortOffset > 65535 {
			return nil, fmt.Errorf("nacos address %q: port must be 1..%d (gRPC uses port + %d)", a, 65535-grpcPortOffset, grpcPortOffset)
		}
		servers = append(servers, constant.ServerConfig{
			Scheme: "http", IpAddr: host, Port: port, GrpcPort: port + grpcPortOffset, ContextPath: "/nacos",
		})
	}
	return servers, nil
}

// Close ends every subscription, closes the connection (the server then drops this client's
// subscriptions and instances) and stops the client's goroutines. It waits for a callback under way to return, so
// it must not be called from a callback. Calls after Close fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	clear(c.subs)
	c.queue = nil
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}: // the delivery goroutine sees closed and ends
	default:
	}

	c.proxy.CloseClient() // before cancel: shutting down notifies a goroutine that cancel ends
	c.cancel()
	<-c.delivered
	// The SDK keeps every client it made in a package map for good; drop what this one cached.
	c.holder.ServiceInfoMap.Clear()
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
// itself). Requests are only handed to the SDK when it reports a connection: the SDK's own
// not-connected path reads its status without synchronisation (a data race).
func (c *Client) usable() error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if !c.proxy.ServerHealthy() {
		return fmt.Errorf("nacos %s: not connected (reconnecting)", c.addr)
	}
	return nil
}
