package llmprovider

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
)

// DefaultNamespace is the Nacos namespace used when none is given. The gateway adapter's empty
// default means the same namespace, so a provider and the gateway meet without configuring either.
const DefaultNamespace = "public"

// DefaultGroup is Nacos' own default group.
const DefaultGroup = nacos.DefaultGroup

// DefaultBeatInterval is how often an ephemeral instance's heartbeat is sent (Nacos' own default).
const DefaultBeatInterval = 5 * time.Second

// NacosOptions says how to reach the registry.
type NacosOptions struct {
	// Address is one or more host:port (an http:// or https:// prefix is allowed), comma separated.
	Address   string
	Namespace string
	Username  string
	Password  string
	// Timeout bounds every request to Nacos. Default 5s.
	Timeout time.Duration
	// BeatInterval is the heartbeat interval of registered instances. Default 5s.
	BeatInterval time.Duration
}

// Registrar registers provider instances in a Nacos-protocol registry and keeps them alive with
// heartbeats until they are deregistered or the Registrar is closed. It is the one registrar of
// this module: `pixiu llm register`, the tests, the benchmark and the demo all use it. It talks
// to the registry with nacos.Client only: it opens no listening socket (nacos-sdk-go's
// NamingClient would open a UDP one that hands instance metadata, API keys included, to anyone)
// and every goroutine it starts ends at Close.
type Registrar struct {
	client  *nacos.Client
	address string
	beat    time.Duration
	secrets *secretList

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	beats map[beatKey]*heartbeat
}

type beatKey struct {
	group, service, ip string
	port               uint64
}

type heartbeat struct {
	inst Instance
	stop context.CancelFunc
}

// Connect builds a registrar for the registry. It does not contact the registry: the first
// request does (logging in first when a username is set).
func Connect(opts NacosOptions) (*Registrar, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.BeatInterval <= 0 {
		opts.BeatInterval = DefaultBeatInterval
	}
	namespace := strings.TrimSpace(opts.Namespace)
	if namespace == "" {
		namespace = DefaultNamespace
	}
	client, err := nacos.NewClient(nacos.ClientOptions{
		Address: opts.Address, Namespace: namespace, Username: opts.Username, Password: opts.Password, Timeout: opts.Timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("nacos client for %s: %w", opts.Address, err)
	}
	secrets := &secretList{}
	if opts.Password != "" {
		secrets.add(opts.Password)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registrar{client: client, address: opts.Address, beat: opts.BeatInterval, secrets: secrets,
		ctx: ctx, cancel: cancel, beats: map[beatKey]*heartbeat{}}, nil
}

func keyOf(inst Instance) beatKey {
	return beatKey{group: inst.group(), service: inst.Service, ip: inst.IP, port: inst.Port}
}

func (in Instance) nacos() nacos.Instance {
	return nacos.Instance{IP: in.IP, Port: in.Port, Weight: in.Weight, Enabled: true, Healthy: true, Ephemeral: true, Metadata: in.Metadata}
}

// Register registers inst as a healthy, enabled, ephemeral instance and keeps it alive with
// heartbeats (registering it again when the registry says it lost it). The caller validates
// the instance first (Check); Register only talks to the registry.
func (r *Registrar) Register(inst Instance) error {
	for _, k := range secretValues(inst.Metadata) {
		r.secrets.add(k)
	}
	if err := r.client.Register(r.ctx, inst.group(), inst.Service, inst.nacos()); err != nil {
		return fmt.Errorf("register %s in nacos %s: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	r.startBeat(inst)
	return nil
}

// Update changes a registered instance's weight and metadata in place; its heartbeat carries
// the new version from then on.
func (r *Registrar) Update(inst Instance) error {
	for _, k := range secretValues(inst.Metadata) {
		r.secrets.add(k)
	}
	if err := r.client.Update(r.ctx, inst.group(), inst.Service, inst.nacos()); err != nil {
		return fmt.Errorf("update %s in nacos %s: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	r.mu.Lock()
	if hb := r.beats[keyOf(inst)]; hb != nil {
		hb.inst = inst
	}
	r.mu.Unlock()
	return nil
}

// Deregister stops inst's heartbeat and removes it from the registry.
func (r *Registrar) Deregister(inst Instance) error {
	r.stopBeat(keyOf(inst))
	if err := r.client.Deregister(r.ctx, inst.group(), inst.Service, inst.nacos()); err != nil {
		return fmt.Errorf("deregister %s from nacos %s: %s", inst, r.address, r.secrets.scrub(err.Error()))
	}
	return nil
}

// Present reports whether inst is in its service's instance list on the server.
func (r *Registrar) Present(inst Instance) (bool, error) {
	hosts, err := r.client.Instances(r.ctx, inst.group(), inst.Service)
	if err != nil {
		return false, fmt.Errorf("read the instances of %s from nacos %s: %s", inst.Service, r.address, r.secrets.scrub(err.Error()))
	}
	for _, h := range hosts {
		if h.IP == inst.IP && h.Port == inst.Port {
			return true, nil
		}
	}
	return false, nil
}

// Close stops every heartbeat, ends requests in flight and waits for the registrar's
// goroutines. It does not deregister: instances then expire in the registry. It is idempotent.
func (r *Registrar) Close() error {
	r.cancel()
	r.client.Close()
	r.wg.Wait()
	return nil
}

func (r *Registrar) startBeat(inst Instance) {
	k := keyOf(inst)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	if hb := r.beats[k]; hb != nil {
		hb.inst = inst
		return
	}
	ctx, stop := context.WithCancel(r.ctx)
	hb := &heartbeat{inst: inst, stop: stop}
	r.beats[k] = hb
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.beatLoop(ctx, k, hb)
	}()
}

func (r *Registrar) stopBeat(k beatKey) {
	r.mu.Lock()
	hb := r.beats[k]
	delete(r.beats, k)
	r.mu.Unlock()
	if hb != nil {
		hb.stop()
	}
}

// beatLoop sends the instance's heartbeat every interval (the first one after a random part
// of it, so that many instances registered at once do not beat in step) and registers the
// instance again when the registry answers that it does not know it.
func (r *Registrar) beatLoop(ctx context.Context, k beatKey, hb *heartbeat) {
	wait := r.beat/2 + rand.N(r.beat/2+1)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = r.beat
		r.mu.Lock()
		inst := hb.inst
		r.mu.Unlock()
		reply, err := r.client.Beat(ctx, k.group, k.service, inst.nacos(), r.beat)
		if err != nil || !reply.NotFound {
			continue // a failed beat is retried at the next one
		}
		_ = r.client.Register(ctx, k.group, k.service, inst.nacos())
	}
}

// secretList holds the secrets a Registrar must never print. It only grows.
type secretList struct {
	mu     sync.Mutex
	values []string
}

func (s *secretList) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

func (s *secretList) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return redact.Text(text, s.values...)
}
