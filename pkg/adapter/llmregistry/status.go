package llmregistry

import (
	"sort"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
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
	LastError string `json:"last_error,omitempty"`
	// Forgotten is set while the registry no longer lists services it listed before (it
	// restarted without its data?) and their endpoints are kept routed for the grace period.
	Forgotten *ForgottenStatus   `json:"forgotten,omitempty"`
	Services  []string           `json:"services"`
	Endpoints []EndpointStatus   `json:"endpoints"`
	Rejected  []RejectedInstance `json:"rejected"`
}

// ForgottenStatus describes services a registry forgot whose endpoints are still routed.
type ForgottenStatus struct {
	// Since is when the registry was first seen without them; Until is when the ones still
	// missing are removed.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Services are the services kept although the registry does not list them.
	Services []string `json:"services"`
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

var _ adapter.StatusReporter = (*Adapter)(nil)

// Report is the adapter's status for the admin API: every configured registry and whether it is
// reachable.
func (a *Adapter) Report() adapter.Report {
	registries := a.Status()
	reachable := make(map[string]bool, len(registries))
	for _, r := range registries {
		reachable[r.Name] = r.Reachable
	}
	return adapter.Report{Status: registries, Reachable: reachable}
}

// Status reports every configured registry, sorted by name.
func (a *Adapter) Status() []RegistryStatus {
	out := make([]RegistryStatus, 0, len(a.registries))
	owned := a.env.Endpoints.Endpoints()
	for _, w := range a.registries {
		h := w.watcher.Health()
		st := RegistryStatus{
			Name: w.name, Protocol: w.cfg.Protocol, Address: h.Address, Namespace: w.cfg.Namespace,
			Group: w.cfg.Group, Reachable: h.Reachable, LastSync: h.LastSync, LastError: h.LastError,
			Services: h.Services, Endpoints: []EndpointStatus{}, Rejected: []RejectedInstance{},
		}
		if st.Services == nil {
			st.Services = []string{}
		}
		if f := h.Forgotten; f != nil {
			st.Forgotten = &ForgottenStatus{Since: f.Since, Until: f.Until, Services: f.Missing}
		}
		for _, e := range owned {
			if e.Origin.Provider != w.name {
				continue
			}
			es := EndpointStatus{
				Cluster: e.Cluster, ID: e.Endpoint.ID, Name: e.Endpoint.Name, Service: e.Origin.Service, Instance: e.Origin.Instance,
				Address: addressOf(e.Endpoint), Weight: e.Endpoint.Weight,
			}
			if llm := e.Endpoint.LLMMeta; llm != nil {
				es.Keys, es.RetryPolicy, es.Fallback = len(llm.Keys()), llm.RetryPolicy.Name, llm.Fallback
			}
			st.Endpoints = append(st.Endpoints, es)
		}
		a.mu.Lock()
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
