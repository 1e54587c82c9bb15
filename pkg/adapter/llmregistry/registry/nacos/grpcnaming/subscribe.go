package grpcnaming

import (
	"fmt"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/util"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// subscription is one Subscribe call. The SDK identifies its callback by the pointer sdkFunc.
type subscription struct {
	service, group string
	key            string // group@@service, the SDK's cache key (no clusters)
	onChange       func([]registry.Instance)
	sdkFunc        *func([]model.Instance, error)

	// guarded by Client.mu
	pending []registry.Instance
	queued  bool
}

// Subscribe watches a service: onChange receives its complete instance list (every instance,
// whatever its health; possibly empty) first with the list at the time of subscribing, then
// after every change the server pushes, and after a reconnect when the list differs. Calls run
// one at a time on a goroutine of the client; lists that arrive while a call runs are coalesced
// into the latest one per service. A call already under way may end after Unsubscribe returns;
// none runs after Close returns. A service is subscribed at most once per client.
func (c *Client) Subscribe(service, group string, onChange func([]registry.Instance)) error {
	group = groupOrDefault(group)
	sub := &subscription{service: service, group: group, key: util.GetGroupName(service, group), onChange: onChange}
	fn := func(hosts []model.Instance, _ error) { c.enqueue(sub, hosts) }
	sub.sdkFunc = &fn

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
	c.subs[sub.key] = sub
	c.mu.Unlock()

	// Forget what an earlier subscription cached, so the first list counts as a change.
	c.holder.StopUpdateIfContain(sub.key, "")
	c.holder.RegisterCallback(sub.key, "", sub.sdkFunc)
	svc, err := c.proxy.Subscribe(service, group, "")
	if err != nil {
		c.dropSubscription(sub)
		return fmt.Errorf("nacos %s: subscribe to service %q in group %q: %w", c.addr, service, group, err)
	}
	// A push may have overtaken this answer; the holder drops whichever list is older.
	c.holder.ProcessService(&svc)
	return nil
}

// Unsubscribe ends the watch of a service, with the same parameters it was subscribed with. The
// subscription ends here even when the server cannot be told (the error says so): it is not
// renewed after a reconnect.
func (c *Client) Unsubscribe(service, group string) error {
	group = groupOrDefault(group)
	key := util.GetGroupName(service, group)
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

// dropSubscription forgets sub locally, then tells the server. The SDK stops re-subscribing
// after a reconnect even when the server cannot be told.
func (c *Client) dropSubscription(sub *subscription) error {
	c.mu.Lock()
	if c.subs[sub.key] == sub {
		delete(c.subs, sub.key)
	}
	c.mu.Unlock()
	c.holder.DeregisterCallback(sub.key, "", sub.sdkFunc)
	c.holder.StopUpdateIfContain(sub.key, "")
	return c.proxy.Unsubscribe(sub.service, sub.group, "")
}

// enqueue hands a list to the delivery goroutine. It runs on SDK goroutines (the gRPC stream's
// receive loop for pushes), so it only takes the lock briefly.
func (c *Client) enqueue(sub *subscription, hosts []model.Instance) {
	list := toInstances(sub.service, sub.group, hosts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.subs[sub.key] != sub {
		return
	}
	sub.pending = list
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
