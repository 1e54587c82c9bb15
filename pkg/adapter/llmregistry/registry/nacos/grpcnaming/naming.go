package grpcnaming

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

// servicePageSize is large so one call usually lists a whole group: some servers reorder the
// list between calls, so small pages can skip and repeat names within one walk.
const servicePageSize = 1000

// maxServicePages bounds one walk of the service list (a million services).
const maxServicePages = 1000

// Services lists the names of the services in group (empty: DEFAULT_GROUP), sorted, each once.
// It pages through the list until a short page.
func (c *Client) Services(group string) ([]string, error) {
	return c.listServices(group, servicePageSize)
}

func (c *Client) listServices(group string, pageSize uint32) ([]string, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	group = groupOrDefault(group)
	seen := map[string]bool{}
	for page := uint32(1); page <= maxServicePages; page++ {
		req := serviceListRequest{namingRequest: naming(c.namespaceID, "", group), PageNo: int(page), PageSize: int(pageSize)}
		var list serviceListResponse
		if err := c.call(req, &list); err != nil {
			return nil, fmt.Errorf("nacos %s: list services of group %q: %w", c.addr, group, err)
		}
		for _, name := range list.ServiceNames {
			if name != "" {
				seen[name] = true
			}
		}
		if len(list.ServiceNames) < int(pageSize) {
			break
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// Instances reads the instance list of a service from the server: every instance, whatever its
// health. An unknown service has none.
func (c *Client) Instances(service, group string) ([]registry.Instance, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	group = groupOrDefault(group)
	var answer serviceResponse
	if err := c.call(serviceQueryRequest{namingRequest: naming(c.namespaceID, service, group)}, &answer); err != nil {
		return nil, fmt.Errorf("nacos %s: read instances of service %q in group %q: %w", c.addr, service, group, err)
	}
	return toInstances(service, group, answer.ServiceInfo.Hosts), nil
}

// Register registers in (in.Service, in.Group, in.IP, in.Port, in.Weight, in.Enabled,
// in.Healthy, in.Metadata) as an ephemeral instance, whatever in.Ephemeral says: it lives as
// long as this client's connection, and the client registers it again after a reconnect. A
// client holds at most one instance per service: a Nacos server keeps one instance per service
// and connection, so a second one would replace the first.
func (c *Client) Register(in registry.Instance) error {
	if err := c.usable(); err != nil {
		return err
	}
	in.Group = groupOrDefault(in.Group)
	key, addr := groupedName(in.Service, in.Group), instanceAddr(in)
	c.mu.Lock()
	held, ok := c.registered[key]
	if ok && instanceAddr(held) != addr {
		c.mu.Unlock()
		return fmt.Errorf("nacos %s: register %s in service %q: this client already holds instance %s of that service (one per service over gRPC)", c.addr, addr, in.Service, instanceAddr(held))
	}
	c.registered[key] = in // before the request: a reconnect meanwhile registers it again
	c.mu.Unlock()
	if err := c.call(instanceChange(c.namespaceID, "registerInstance", in), &response{}); err != nil {
		c.mu.Lock()
		if ok {
			c.registered[key] = held
		} else {
			delete(c.registered, key)
		}
		c.mu.Unlock()
		return fmt.Errorf("nacos %s: register %s in service %q group %q: %w", c.addr, addr, in.Service, in.Group, err)
	}
	return nil
}

// Deregister removes an instance registered with Register (matched by service, group, ip and
// port) and stops registering it again after reconnects.
func (c *Client) Deregister(in registry.Instance) error {
	if err := c.usable(); err != nil {
		return err
	}
	in.Group = groupOrDefault(in.Group)
	key, addr := groupedName(in.Service, in.Group), instanceAddr(in)
	c.mu.Lock()
	if held, ok := c.registered[key]; ok && instanceAddr(held) == addr {
		delete(c.registered, key)
	}
	c.mu.Unlock()
	if err := c.call(instanceChange(c.namespaceID, "deregisterInstance", in), &response{}); err != nil {
		return fmt.Errorf("nacos %s: deregister %s from service %q group %q: %w", c.addr, addr, in.Service, in.Group, err)
	}
	return nil
}

// instanceChange registers (change "registerInstance") or deregisters ("deregisterInstance")
// in, whose group is set, in the namespace.
func instanceChange(namespace, change string, in registry.Instance) instanceRequest {
	return instanceRequest{namingRequest: naming(namespace, in.Service, in.Group), Type: change, Instance: toModel(in)}
}

// groupedName is Nacos's key of a service: group@@service.
func groupedName(service, group string) string { return group + "@@" + service }

func groupOrDefault(group string) string {
	if group == "" {
		return DefaultGroup
	}
	return group
}

func instanceAddr(in registry.Instance) string {
	return net.JoinHostPort(in.IP, strconv.Itoa(in.Port))
}

// toModel is the SDK form of an instance to register or deregister.
func toModel(in registry.Instance) model.Instance {
	return model.Instance{
		Ip: in.IP, Port: uint64(max(in.Port, 0)), Weight: in.Weight, Enable: in.Enabled, Healthy: in.Healthy,
		Ephemeral: true, Metadata: in.Metadata,
	}
}

// toInstances converts instances read or pushed for service in group. The metadata maps are
// copied: the SDK keeps its own in its cache.
func toInstances(service, group string, hosts []model.Instance) []registry.Instance {
	out := make([]registry.Instance, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, registry.Instance{
			Service: service, Group: group, InstanceID: h.InstanceId, IP: h.Ip, Port: int(h.Port),
			Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enable, Ephemeral: h.Ephemeral, Metadata: maps.Clone(h.Metadata),
		})
	}
	return out
}
