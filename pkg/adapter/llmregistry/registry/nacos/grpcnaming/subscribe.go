package grpcnaming

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// subscription is one Subscribe call.
type subscription struct {
	service, group string
	key            string // group@@service
	onChange       func([]registry.Instance)

	// guarded by Client.mu
	seen     bool             // a list has arrived
	lastTime uint64           // the server's lastRefTime of the latest list
	hosts    []model.Instance // the latest list, sorted by address
	pending  []registry.Instance
	queued   bool
}

// Subscribe watches a service: onChange receives its complete instance list (every instance,
// whatever its health; possibly empty) first with the list at the time of subscribing, then
// after every change the server pushes, and after a reconnect when the list differs. Calls run
// one at a time on a goroutine of the client; lists that arrive while a call runs are coalesced
// into the latest one per service. A call already under way may end after Unsubscribe returns;
// none runs after Close returns. A service is subscribed at most once per client.
func (c *Client) Subscribe(service, group string, onChange func([]registry.Instance)) error {
	group = groupOrDefault(group)
	sub := &subscription{service: service, group: group, key: groupedName(service, group), onChange: onChange}
	if err := c.usable(); err != nil {
		return err
	}
	c.subscribeMu.Lock()
	defer c.subscribeMu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return fmt.Errorf("nacos %s: client closed", c.addr)
	case c.subs[sub.key] != nil:
		c.mu.Unlock()
		return fmt.Errorf("nacos %s: service %q in group %q is already subscribed", c.addr, service, group)
	}
	c.subs[sub.key] = sub // before the request: a reconnect meanwhile subscribes again
	c.mu.Unlock()

	var answer serviceResponse
	if err := c.call(subscribeTo(c.namespaceID, service, group, true), &answer); err != nil {
		_ = c.dropSubscription(sub)
		return fmt.Errorf("nacos %s: subscribe to service %q in group %q: %w", c.addr, service, group, err)
	}
	c.apply(sub, answer.ServiceInfo)
	return nil
}

// Unsubscribe ends the watch of a service, with the same parameters it was subscribed with. The
// subscription ends here even when the server cannot be told (the error says so): it is not
// renewed after a reconnect.
func (c *Client) Unsubscribe(service, group string) error {
	group = groupOrDefault(group)
	key := groupedName(service, group)
	c.subscribeMu.Lock()
	defer c.subscribeMu.Unlock()
	c.mu.Lock()
	sub := c.subs[key]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("nacos %s: client closed", c.addr)
	}
	if sub == nil {
		return fmt.Errorf("nacos %s: service %q in group %q is not subscribed", c.addr, service, group)
	}
	if err := c.dropSubscription(sub); err != nil {
		return fmt.Errorf("nacos %s: unsubscribe from service %q in group %q: %w", c.addr, service, group, err)
	}
	return nil
}

// dropSubscription forgets sub locally, then tells the server.
func (c *Client) dropSubscription(sub *subscription) error {
	c.mu.Lock()
	if c.subs[sub.key] == sub {
		delete(c.subs, sub.key)
	}
	c.mu.Unlock()
	return c.call(subscribeTo(c.namespaceID, sub.service, sub.group, false), &response{})
}

func subscribeTo(namespace, service, group string, subscribe bool) subscribeRequest {
	return subscribeRequest{namingRequest: naming(namespace, service, group), Subscribe: subscribe}
}

// receive applies a list the server pushed. It runs on the stream reader's goroutine.
func (c *Client) receive(svc model.Service) {
	service, group := svc.Name, svc.GroupName
	if g, s, ok := strings.Cut(service, "@@"); ok { // some servers send group@@service
		group, service = g, s
	}
	c.mu.Lock()
	sub := c.subs[groupedName(service, groupOrDefault(group))]
	c.mu.Unlock()
	if sub != nil {
		c.apply(sub, svc)
	}
}

// apply hands sub's list svc to the delivery goroutine unless it is older than the latest list
// or holds the same instances. A subscription's answer and its pushes can arrive in any order.
func (c *Client) apply(sub *subscription, svc model.Service) {
	hosts := slices.Clone(svc.Hosts)
	slices.SortFunc(hosts, func(a, b model.Instance) int {
		return cmp.Or(strings.Compare(a.Ip, b.Ip), cmp.Compare(a.Port, b.Port))
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if sub.seen && svc.LastRefTime <= sub.lastTime {
		return
	}
	same := sub.seen && reflect.DeepEqual(hosts, sub.hosts)
	sub.seen, sub.lastTime, sub.hosts = true, svc.LastRefTime, hosts
	if !same {
		c.enqueueLocked(sub, hosts)
	}
}

// enqueueLocked hands a list to the delivery goroutine; c.mu is held. It runs on the stream
// reader's goroutine for pushes, so it does not block.
func (c *Client) enqueueLocked(sub *subscription, hosts []model.Instance) {
	if c.closed || c.subs[sub.key] != sub {
		return
	}
	sub.pending = toInstances(sub.service, sub.group, hosts)
	if !sub.queued {
		sub.queued = true
		c.queue = append(c.queue, sub)
	}
	select {
	case c.wake <- struct{}{}:
	default: // already woken
	}
}

// deliverLoop calls the subscriptions' callbacks until Close.
func (c *Client) deliverLoop() {
	defer close(c.delivered)
	for {
		sub, list, ok := c.next()
		if !ok {
			return
		}
		if sub != nil {
			sub.onChange(list)
		}
	}
}

// next waits for the next list to deliver. It returns ok false once the client is closed, and a
// nil sub when woken with nothing to deliver.
func (c *Client) next() (sub *subscription, list []registry.Instance, ok bool) {
	c.mu.Lock()
	for len(c.queue) == 0 && !c.closed {
		c.mu.Unlock()
		<-c.wake
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, false
	}
	sub, c.queue = c.queue[0], c.queue[1:]
	sub.queued = false
	list, sub.pending = sub.pending, nil
	if c.subs[sub.key] != sub {
		return nil, nil, true
	}
	return sub, list, true
}
