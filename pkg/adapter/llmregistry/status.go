package llmregistry

import (
	"sort"
	"time"
)

// RegistryStatus is one watched registry as the admin API shows it. It holds no secrets: no
// password, no API key.
type RegistryStatus struct {
	Name      string `json:"name"`
	Protocol  string `json:"protocol"`
	Address   string `json:"address"`
	Namespace string `json:"namespace,omitempty"`
	Group     string `json:"group,omitempty"`
	// Reachable is true when the last registry call succeeded.
	Reachable bool `json:"reachable"`
	// LastSync is when the registry was last read completely; zero if never.
	LastSync time.Time `json:"last_sync,omitzero"`
	// LastError is the last failure, empty once a call succeeds again.
	LastError string             `json:"last_error,omitempty"`
	Services  []string           `json:"services"`
	Endpoints []EndpointStatus   `json:"endpoints"`
	Rejected  []RejectedInstance `json:"rejected"`
}

// EndpointStatus is an endpoint this adapter put into a cluster. It says how many API keys the
// endpoint has, never which.
type EndpointStatus struct {
	Cluster     string  `json:"cluster"`
	ID          string  `json:"id"`
	Name        string  `json:"name,omitempty"`
	Service     string  `json:"service"`
	Instance    string  `json:"instance"`
	Address     string  `json:"address"`
	Weight      float64 `json:"weight"`
	Keys        int     `json:"keys"`
	RetryPolicy string  `json:"retry_policy,omitempty"`
	Fallback    bool    `json:"fallback"`
}

// RejectedInstance is a registered instance that is not routed, and why.
type RejectedInstance struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	Key      string `json:"key"`
	Reason   string `json:"reason"`
}

// Status reports every configured registry, sorted by name.
func (a *Adapter) Status() []RegistryStatus {
	out := make([]RegistryStatus, 0, len(a.registries))
	for _, w := range a.registries {
		h := w.registry.Health()
		st := RegistryStatus{
			Name: w.name, Protocol: w.cfg.Protocol, Address: h.Address, Namespace: w.cfg.Namespace,
			Group: w.cfg.Group, Reachable: h.Reachable, LastSync: h.LastSync, LastError: h.LastError,
			Services: h.Services, Endpoints: []EndpointStatus{}, Rejected: []RejectedInstance{},
		}
		if st.Services == nil {
			st.Services = []string{}
		}
		a.mu.Lock()
		for k, e := range a.endpoints {
			if e.registry != w.name {
				continue
			}
			es := EndpointStatus{
				Cluster: k.cluster, ID: k.id, Name: e.endpoint.Name, Service: e.service, Instance: e.instance,
				Address: addressOf(e.endpoint), Weight: e.endpoint.Weight,
			}
			if llm := e.endpoint.LLMMeta; llm != nil {
				es.Keys, es.RetryPolicy, es.Fallback = len(llm.Keys()), llm.RetryPolicy.Name, llm.Fallback
			}
			st.Endpoints = append(st.Endpoints, es)
		}
		for _, r := range w.rejected {
			st.Rejected = append(st.Rejected, RejectedInstance{Service: r.Service, Instance: r.Instance, Key: r.Key, Reason: r.Reason})
		}
		a.mu.Unlock()
		sort.Slice(st.Endpoints, func(i, j int) bool {
			if st.Endpoints[i].Cluster != st.Endpoints[j].Cluster {
				return st.Endpoints[i].Cluster < st.Endpoints[j].Cluster
			}
			return st.Endpoints[i].ID < st.Endpoints[j].ID
		})
		out = append(out, st)
	}
	return out
}
