package grpcnaming

import (
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

func TestParseServers(t *testing.T) {
	servers, err := parseServers([]string{"127.0.0.1:8848", " nacos.example:18848 "})
	require.NoError(t, err)
	require.Len(t, servers, 2)
	assert.Equal(t, "127.0.0.1", servers[0].host)
	assert.Equal(t, "127.0.0.1:8848", servers[0].httpAddr())
	assert.Equal(t, "127.0.0.1:9848", servers[0].grpcAddr())
	assert.Equal(t, "nacos.example", servers[1].host)
	assert.Equal(t, "nacos.example:19848", servers[1].grpcAddr())

	for addr, want := range map[string]string{
		"127.0.0.1":       "want host:port",
		":8848":           "want host:port",
		"127.0.0.1:x":     "port must be",
		"127.0.0.1:0":     "port must be",
		"127.0.0.1:65000": "port must be",
	} {
		_, err := parseServers([]string{addr})
		assert.ErrorContains(t, err, want, addr)
		assert.ErrorContains(t, err, addr)
	}
	_, err = parseServers(nil)
	assert.ErrorContains(t, err, "no server address")
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Addresses: []string{"127.0.0.1:8848"}})
	assert.ErrorContains(t, err, "timeout must be positive")
	_, err = New(Config{Addresses: []string{"127.0.0.1"}, Timeout: time.Second})
	assert.ErrorContains(t, err, `nacos address "127.0.0.1"`)
}

// Lists that arrive while a callback runs are coalesced into the latest one; a subscription
// that ended gets nothing more.
func TestDeliveryCoalesces(t *testing.T) {
	c := &Client{subs: map[string]*subscription{}, wake: make(chan struct{}, 1), delivered: make(chan struct{})}
	got := make(chan []registry.Instance, 10)
	release := make(chan struct{})
	a := &subscription{service: "a", group: "g", key: "g@@a", onChange: func(l []registry.Instance) {
		got <- l
		<-release
	}}
	b := &subscription{service: "b", group: "g", key: "g@@b", onChange: func(l []registry.Instance) { got <- l }}
	c.subs[a.key], c.subs[b.key] = a, b
	go c.deliverLoop()

	c.enqueue(a, []model.Instance{{Ip: "10.0.0.1", Port: 1}})
	first := <-got // a's callback now blocks
	assert.Equal(t, []int{1}, ports(first))
	c.enqueue(a, []model.Instance{{Ip: "10.0.0.1", Port: 2}})
	c.enqueue(b, []model.Instance{{Ip: "10.0.0.1", Port: 5}})
	c.enqueue(a, []model.Instance{{Ip: "10.0.0.1", Port: 3}})
	c.enqueue(a, nil)
	release <- struct{}{}
	assert.Equal(t, []int{}, ports(<-got), "a's latest list, the empty one")
	release <- struct{}{}
	second := <-got
	assert.Equal(t, "b", second[0].Service)
	assert.Equal(t, []int{5}, ports(second))

	c.mu.Lock()
	delete(c.subs, b.key)
	c.mu.Unlock()
	c.enqueue(b, []model.Instance{{Ip: "10.0.0.1", Port: 6}})

	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wake <- struct{}{}
	<-c.delivered
	assert.Empty(t, got, "nothing for an ended subscription")
}

func TestInstanceConversion(t *testing.T) {
	meta := map[string]string{"cluster": "chat"}
	list := toInstances("svc", "g", []model.Instance{{
		InstanceId: "id-1", Ip: "10.0.0.1", Port: 8080, Weight: 2, Healthy: true, Enable: true, Ephemeral: true, Metadata: meta,
	}})
	require.Len(t, list, 1)
	assert.Equal(t, registry.Instance{
		Service: "svc", Group: "g", InstanceID: "id-1", IP: "10.0.0.1", Port: 8080, Weight: 2,
		Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta,
	}, list[0])
	list[0].Metadata["cluster"] = "changed"
	assert.Equal(t, "chat", meta["cluster"], "the SDK's map is not shared")

	m := toModel(registry.Instance{IP: "10.0.0.2", Port: 9000, Weight: 1, Enabled: true, Healthy: true})
	assert.True(t, m.Ephemeral, "registrations over gRPC are ephemeral")
	assert.EqualValues(t, 9000, m.Port)
}

// enqueue hands a list to the delivery goroutine, as a push does.
func (c *Client) enqueue(sub *subscription, hosts []model.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueueLocked(sub, hosts)
}
