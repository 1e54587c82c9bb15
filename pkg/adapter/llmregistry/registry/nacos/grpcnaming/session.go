package grpcnaming

// The client's life with its servers: connecting, health checks, reconnecting, and restoring
// registrations and subscriptions on a new connection.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

const (
	// healthCheckInterval is how often an idle connection is checked.
	healthCheckInterval = 5 * time.Second
	// firstBackoff and lastBackoff bound the wait between connection attempts.
	firstBackoff = 100 * time.Millisecond
	lastBackoff  = 3 * time.Second
)

var errNotConnected = errors.New("not connected (reconnecting)")

// labels tell the server what the connection is for.
var labels = map[string]string{"source": "sdk", "module": moduleNaming}

// connectAny tries each server once, starting with the one after the last tried.
func (c *Client) connectAny(ctx context.Context) (*conn, error) {
	var errs []error
	for range c.servers {
		s := c.servers[c.nextServer%len(c.servers)]
		c.nextServer++
		cn, err := c.connect(ctx, s)
		if err == nil {
			return cn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (c *Client) connect(ctx context.Context, s server) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	setup := connectionSetupRequest{internalRequest: internal(), ClientVersion: clientVersion,
		Tenant: c.namespaceID, Labels: labels}
	return connectTo(ctx, s.grpcAddr(), setup, c.receive)
}

// supervise keeps the client connected until ctx ends, starting with first (nil: none yet).
// It owns the connections: it installs each one and closes it. It waits between attempts to
// connect, and after a connection on which the client's state could not be restored.
func (c *Client) supervise(ctx context.Context, first *conn) {
	defer close(c.supervised)
	cn, backoff := first, firstBackoff
	for ctx.Err() == nil {
		if cn == nil {
			var err error
			if cn, err = c.connectAny(ctx); err != nil {
				sleep(ctx, backoff)
				backoff = min(2*backoff, lastBackoff)
				continue
			}
			slog.Info("nacos: connected", "registry", c.addr, "server", cn.server)
		}
		c.current.Store(cn)
		err := c.restore(ctx)
		if err == nil {
			backoff = firstBackoff
			c.watch(ctx, cn)
		}
		c.current.Store(nil)
		cn.close()
		cn = nil
		if err != nil && ctx.Err() == nil {
			slog.Warn("nacos: could not register and subscribe again; reconnecting", "registry", c.addr, "error", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, lastBackoff)
		}
	}
}

// watch returns when cn is lost (its stream ended or a health check failed) or ctx ends.
func (c *Client) watch(ctx context.Context, cn *conn) {
	ticker := time.NewTicker(healthCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cn.done:
			slog.Warn("nacos: connection lost; reconnecting", "registry", c.addr, "server", cn.server)
			return
		case <-ticker.C:
			if time.Since(time.Unix(0, c.lastAnswer.Load())) < healthCheckInterval {
				continue // the connection answered a request lately: no need to ask
			}
			if err := c.call(healthCheckRequest{internal()}, &response{}); err != nil {
				slog.Warn("nacos: health check failed; reconnecting", "registry", c.addr, "server", cn.server, "error", err)
				return
			}
		}
	}
}

// restore registers every instance again and subscribes to every service again on the current
// connection, delivering each service's list.
func (c *Client) restore(ctx context.Context) error {
	instances, subs := c.held()
	for _, in := range instances {
		if err := c.call(instanceChange(c.namespaceID, "registerInstance", in), &response{}); err != nil {
			return fmt.Errorf("register %s in service %q again: %w", instanceAddr(in), in.Service, err)
		}
	}
	for _, sub := range subs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var answer serviceResponse
		if err := c.call(subscribeTo(c.namespaceID, sub.service, sub.group, true), &answer); err != nil {
			return fmt.Errorf("subscribe to service %q in group %q again: %w", sub.service, sub.group, err)
		}
		c.apply(sub, answer.ServiceInfo)
	}
	return nil
}

// held is what the client has registered and subscribed to.
func (c *Client) held() ([]registry.Instance, []*subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	instances := make([]registry.Instance, 0, len(c.registered))
	for _, in := range c.registered {
		instances = append(instances, in)
	}
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	return instances, subs
}

// call sends req over the current connection and reads the answer into out. With a login, an
// unauthorized answer gets the token refused and the request sent once more with a new one.
func (c *Client) call(req request, out answer) error {
	cn := c.current.Load()
	if cn == nil || !cn.alive() {
		return errNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err := c.callWithToken(ctx, cn, req, out)
	if c.auth != nil && isUnauthorized(err) {
		err = c.callWithToken(ctx, cn, req, out)
	}
	if err == nil {
		c.lastAnswer.Store(time.Now().UnixNano())
	}
	return err
}

// callWithToken makes one call carrying the current token, if any; a refused token is handed
// back to the token source.
func (c *Client) callWithToken(ctx context.Context, cn *conn, req request, out answer) error {
	if c.auth == nil {
		return cn.call(ctx, req, nil, out)
	}
	token, err := c.auth.Token(ctx)
	if err != nil {
		return err
	}
	err = cn.call(ctx, req, tokenHeaders(token), out)
	if isUnauthorized(err) {
		c.auth.Refused(token)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
