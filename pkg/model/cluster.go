package model

import (
	"strings"
)

// Load balancing policies, as named in pixiu.yaml.
const (
	LoadBalancerRoundRobin    = "RoundRobin"
	LoadBalancerRand          = "Rand"
	LoadBalancerWeightRandom  = "WeightRandom"
	LoadBalancerRingHashing   = "RingHashing"
	LoadBalancerMaglevHashing = "MaglevHashing"
)

// ClusterConfig is a named pool of interchangeable upstream endpoints: any of them may answer
// any request routed to the cluster.
type ClusterConfig struct {
	Name    string `yaml:"name" json:"name"`
	TypeStr string `yaml:"type" json:"type"`
	LbStr   string `yaml:"lb_policy" json:"lb_policy" default:"RoundRobin"`
	// ConsistentHash tunes RingHashing and MaglevHashing; the key is upstream Pixiu's.
	ConsistentHash ConsistentHash `yaml:"consistent" json:"consistent"`
	Endpoints      []*Endpoint    `yaml:"endpoints" json:"endpoints"`
}

// ConsistentHash configures the hashing policies. ReplicaNum and MaglevTableSize are upstream
// Pixiu's keys; Header is this gateway's.
type ConsistentHash struct {
	// Header names the request header whose value is hashed, such as a session or user id, so
	// that one conversation keeps reaching one endpoint. Requests without it hash the client
	// address; so does every request when Header is empty.
	Header string `yaml:"header" json:"header,omitempty"`
	// ReplicaNum is the number of points each endpoint has on the RingHashing ring (default 160).
	ReplicaNum int `yaml:"replica_num" json:"replica_num,omitempty"`
	// MaglevTableSize is the size of the MaglevHashing lookup table, a prime (default 65537).
	MaglevTableSize int `yaml:"maglev_table_size" json:"maglev_table_size,omitempty"`
}

// Origin says where an endpoint that an adapter added comes from. The cluster manager keeps it
// with the endpoint: it is the one record of who owns an endpoint, beside the adapter's source tag.
// Provider is the part of the adapter that owns the endpoint (for the registry adapter, the
// registry's name): a provider can neither replace nor remove another provider's endpoints.
// Service and Instance are informative (for the admin API). Static endpoints have none.
type Origin struct {
	Provider string `json:"provider,omitempty"`
	Service  string `json:"service,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Endpoint is one upstream of a cluster.
type Endpoint struct {
	// ID is unique inside its cluster. pixiu.yaml may spell the key `id` or, as upstream Pixiu does, `ID`.
	ID       string            `yaml:"id" json:"id"`
	Name     string            `yaml:"name" json:"name"`
	Address  SocketAddress     `yaml:"socket_address" json:"socket_address"`
	Metadata map[string]string `yaml:"meta" json:"meta,omitempty"`
	LLMMeta  *LLMMeta          `yaml:"llm_meta" json:"llm_meta,omitempty"`
	// Weight is used by WeightRandom; zero counts as 1 for static endpoints.
	Weight float64 `yaml:"weight" json:"weight,omitempty"`
}

// LLMMeta are the LLM proxy settings of an endpoint.
type LLMMeta struct {
	RetryPolicy RetryPolicy `yaml:"retry_policy" json:"retry_policy"`
	Fallback    bool        `yaml:"fallback" json:"fallback"`
	APIKey      string      `yaml:"api_key" json:"-"`
	// APIKeys are rotated per request when several are set; APIKey, if set, is the first of them.
	APIKeys []string `yaml:"api_keys" json:"-"`
	// HealthCheckInterval is how long, in milliseconds, an endpoint is skipped after it exhausted
	// its retries; 0 disables the cooldown.
	HealthCheckInterval int64 `yaml:"health_check_interval" json:"health_check_interval"`
	// Models are the model names the endpoint serves, for the model catalog and model routing.
	// Empty: the endpoint serves whatever its cluster is asked for, and is in no catalog.
	Models []string `yaml:"models" json:"models,omitempty"`
}

// RetryPolicy names a retry policy and holds its raw config.
type RetryPolicy struct {
	Name   string         `yaml:"name" json:"name"`
	Config map[string]any `yaml:"config" json:"config,omitempty"`
}

// Keys returns the API keys of the endpoint in rotation order, without duplicates.
func (m *LLMMeta) Keys() []string {
	if m == nil {
		return nil
	}
	keys := make([]string, 0, 1+len(m.APIKeys))
	seen := make(map[string]bool, cap(keys))
	for _, k := range append([]string{m.APIKey}, m.APIKeys...) {
		k = strings.TrimSpace(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

// Clone returns a deep copy of the endpoint.
func (e *Endpoint) Clone() *Endpoint {
	if e == nil {
		return nil
	}
	c := *e
	c.Address.Domains = append([]string(nil), e.Address.Domains...)
	if e.Metadata != nil {
		c.Metadata = make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			c.Metadata[k] = v
		}
	}
	if e.LLMMeta != nil {
		m := *e.LLMMeta
		m.APIKeys = append([]string(nil), e.LLMMeta.APIKeys...)
		m.Models = append([]string(nil), e.LLMMeta.Models...)
		m.RetryPolicy.Config = cloneMap(e.LLMMeta.RetryPolicy.Config)
		c.LLMMeta = &m
	}
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			v = cloneMap(inner)
		}
		c[k] = v
	}
	return c
}
