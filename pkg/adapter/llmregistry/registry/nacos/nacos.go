// Package nacos watches a Nacos naming service for LLM instances. It provides the registry's
// Source (how the registry is read) and its Client; the watch itself (passes, forgetting,
// confirmation, batches) is base.Watch, shared by every registry kind.
//
// How the HTTP transport (the Nacos 1.x open API) reads, and why:
//   - The service list of the group is read with a large page size once per refresh interval;
//     a page shorter than asked for, or padded with empty names (Polaris), ends the list.
//   - The instance list of every watched service is read once per interval, straight from the
//     server (group@@service): that is how changes are found. No push is asked for and nothing
//     listens: nacos-sdk-go's NamingClient is not used (its UDP push receiver hands its cache,
//     API keys included, to any sender).
//   - A server that refuses the 1.x API (Nacos 3.x without its legacy adapter) gets an error
//     naming the registry, the address and the fix: transport: grpc.
package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/base"
	"github.com/pixiu-llm/gateway/pkg/common/extension/plugin"
)

// Protocol is the registry protocol this package registers.
const Protocol = "nacos"

// EnvAddress overrides the address of every nacos registry when set.
const EnvAddress = "NACOS_ADDRESS"

const (
	// maxPageSize is the largest page asked for; longer lists are walked page by page.
	maxPageSize = 10000
	// maxPages bounds one listing whatever the server answers.
	maxPages = 1000
)

func init() {
	registry.Register(Protocol, New)
}

// Settings is a nacos registry's validated config, handed to its transport.
type Settings struct {
	// Config has its defaults applied, NACOS_ADDRESS applied and Group set.
	registry.Config
	// Name is the registry's name in the adapter config.
	Name    string
	Servers []Server
}

// ClientOptions are the options of the registry's Client.
func (s Settings) ClientOptions() ClientOptions {
	return ClientOptions{Address: s.Address, Namespace: s.Namespace, Username: s.Username, Password: s.Password, Timeout: s.Timeout}
}

// Transport builds the Source that reads a registry. It must not contact the registry or start
// goroutines; the watch calls the source from its own goroutine and closes it on Stop.
type Transport func(s Settings, env registry.Env) (base.Source, error)

var transports = func() *plugin.Set[Transport] {
	s := plugin.NewSet[Transport]("nacos transport", true)
	s.Register(registry.TransportHTTP, newHTTPSource)
	return s
}()

// RegisterTransport adds a transport (e.g. "grpc") selectable with the config's transport key.
// Registering a name twice panics.
func RegisterTransport(name string, t Transport) { transports.Register(name, t) }

// New is the nacos factory: it validates the config (after applying NACOS_ADDRESS), builds the
// transport and the watch, and starts nothing.
func New(cfg registry.Config, env registry.Env) (registry.Watcher, error) {
	s, env, err := settingsOf(cfg, env)
	if err != nil {
		return nil, err
	}
	t, err := transports.Get(s.Transport)
	if err != nil {
		return nil, err
	}
	src, err := t(s, env)
	if err != nil {
		return nil, err
	}
	return newWatch(s, env, src), nil
}

func settingsOf(cfg registry.Config, env registry.Env) (Settings, registry.Env, error) {
	cfg = cfg.WithDefaults()
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	env.Logger = logger.With("registry", env.Name)
	if addr := os.Getenv(EnvAddress); addr != "" {
		env.Logger.Info("registry address taken from the environment", "env", EnvAddress, "address", addr)
		cfg.Address = addr
	}
	if err := cfg.Validate(); err != nil {
		return Settings{}, env, err
	}
	servers, err := ParseAddresses(cfg.Address)
	if err != nil {
		return Settings{}, env, err
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Timeout < time.Millisecond {
		return Settings{}, env, fmt.Errorf("timeout %v is below 1ms", cfg.Timeout)
	}
	return Settings{Config: cfg, Name: env.Name, Servers: servers}, env, nil
}

func newWatch(s Settings, env registry.Env, src base.Source) *base.Watch {
	w := base.NewWatch(base.WatchConfig{
		Name: s.Name, RefreshInterval: s.RefreshInterval, Timeout: s.Timeout, ForgetGrace: s.ForgetGrace,
		Describe: []any{"address", s.Address, "group", s.Group, "namespace", s.Namespace, "transport", s.Transport},
	}, src, env)
	w.SetAddress(s.Address)
	return w
}

// httpSource reads a registry through the Nacos 1.x HTTP open API.
type httpSource struct {
	s      Settings
	client *Client
	// pageSize is the page size that held the whole list last time (0: the configured one).
	// Only the watch goroutine uses it.
	pageSize int
}

func newHTTPSource(s Settings, _ registry.Env) (base.Source, error) {
	c, err := NewClient(s.ClientOptions())
	if err != nil {
		return nil, err
	}
	return &httpSource{s: s, client: c}, nil
}

// ListServices reads the group's service list. Names are deduplicated and empty names skipped.
//
// Some registries (Polaris) return the services in a different order on every call, so walking
// pages skips some services and repeats others. When the list does not fit in one page, it is
// read again as one page as large as the count the server gave (and that size is kept for the
// next passes): one call per pass, whatever the order. Only past maxPageSize are pages walked.
func (h *httpSource) ListServices(ctx context.Context) ([]string, error) {
	size := max(h.s.PageSize, h.pageSize)
	for range 3 {
		list, err := h.client.Services(ctx, h.s.Group, 1, size)
		if err != nil {
			return nil, h.listError(err, 1)
		}
		if names, complete := h.collect(list, size, nil); complete {
			return sortedNames(names), nil
		}
		if size >= maxPageSize {
			break
		}
		size = min(maxPageSize, max(list.Count, 2*size))
		h.pageSize = size
	}
	return h.walkPages(ctx, size)
}

// walkPages reads every page of the service list, for lists longer than maxPageSize.
func (h *httpSource) walkPages(ctx context.Context, size int) ([]string, error) {
	seen := map[string]bool{}
	for page := 1; page <= maxPages; page++ {
		list, err := h.client.Services(ctx, h.s.Group, page, size)
		if err != nil {
			return nil, h.listError(err, page)
		}
		if _, complete := h.collect(list, size, seen); complete || page*size >= list.Count {
			break
		}
	}
	return sortedNames(seen), nil
}

// collect adds a page's service names to seen (a new set when nil) and reports whether the page
// ends the list: shorter than asked for, padded with empty names, or reaching the count.
func (h *httpSource) collect(list ServiceList, size int, seen map[string]bool) (map[string]bool, bool) {
	if seen == nil {
		seen = map[string]bool{}
	}
	padded := false
	for _, name := range list.Doms {
		if name == "" {
			padded = true
			continue
		}
		if strings.Contains(name, "@@") {
			continue // not a service name of this group
		}
		seen[name] = true
	}
	return seen, padded || len(list.Doms) < size || list.Count <= size
}

func (h *httpSource) listError(err error, page int) error {
	if refused := h.refusal(err); refused != nil {
		return refused
	}
	return fmt.Errorf("list services of group %q (page %d): %w", h.s.Group, page, err)
}

func sortedNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RefusedError is a server that does not serve the Nacos 1.x HTTP API to this client.
type RefusedError struct {
	Registry, Address string
	Err               error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("nacos registry %q at %s refuses the Nacos 1.x HTTP API (%v); Nacos 3.x serves clients over gRPC only: set `transport: grpc` for this registry",
		e.Registry, e.Address, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refusal recognises a server that refuses the 1.x API: 404, 410 or 501 on the service list,
// or an answer saying the API is deprecated or not supported.
func (h *httpSource) refusal(err error) error {
	var se *StatusError
	if !errors.As(err, &se) {
		return nil
	}
	body := strings.ToLower(se.Body)
	switch {
	case se.Status == http.StatusNotFound, se.Status == http.StatusGone, se.Status == http.StatusNotImplemented,
		strings.Contains(body, "deprecated"), strings.Contains(body, "not supported"), strings.Contains(body, "not support"):
		return &RefusedError{Registry: h.s.Name, Address: h.s.Address, Err: err}
	}
	return nil
}

// ReadInstances reads the instance list of group@@service from the server.
func (h *httpSource) ReadInstances(ctx context.Context, service string) ([]registry.Instance, error) {
	hosts, err := h.client.Instances(ctx, h.s.Group, service)
	if err != nil {
		return nil, err
	}
	return ToInstances(h.s.Group, service, hosts), nil
}

func (h *httpSource) Close() { h.client.Close() }

// ToInstances converts instances of the Nacos API into the registry's own.
func ToInstances(group, service string, hosts []Instance) []registry.Instance {
	out := make([]registry.Instance, 0, len(hosts))
	for _, h := range hosts {
		port := int(h.Port)
		if h.Port > 65535 {
			port = -1 // reported as an unusable port, never wrapped into a valid one
		}
		out = append(out, registry.Instance{
			Service: service, Group: group, InstanceID: h.InstanceID, IP: h.IP, Port: port,
			Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enabled, Ephemeral: h.Ephemeral, Metadata: h.Metadata,
		})
	}
	return out
}
