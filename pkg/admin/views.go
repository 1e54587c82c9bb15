package admin

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/common/extension/adapter"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// The JSON documents of the admin API. They are built from the same snapshots requests use, so
// they show exactly what the gateway routes to. API keys appear only as a count.

// ClustersView is the body of GET /admin/clusters.
type ClustersView struct {
	GeneratedAt time.Time     `json:"generated_at"`
	Clusters    []ClusterView `json:"clusters"`
}

// ClusterView is one cluster; the body of GET /admin/clusters/{name}.
type ClusterView struct {
	Name     string `json:"name"`
	LbPolicy string `json:"lb_policy"`
	// Consistent is what RingHashing and MaglevHashing hash, for those policies only.
	Consistent *model.ConsistentHash `json:"consistent,omitempty"`
	// Available counts endpoints not cooling down.
	Available int            `json:"available"`
	Endpoints []EndpointView `json:"endpoints"`
}

// EndpointView is one endpoint, in cluster order (the order fallback follows).
type EndpointView struct {
	Position int    `json:"position"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	// Source is "static" for pixiu.yaml endpoints, else the id of the adapter that added it.
	Source   string            `json:"source"`
	Address  AddressView       `json:"address"`
	Weight   float64           `json:"weight"`
	Cooldown CooldownView      `json:"cooldown"`
	LLM      LLMView           `json:"llm"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// AddressView is where the endpoint's requests go.
type AddressView struct {
	Address string   `json:"address,omitempty"`
	Port    int      `json:"port,omitempty"`
	Domains []string `json:"domains,omitempty"`
}

// CooldownView is the passive-health state of an endpoint.
type CooldownView struct {
	CoolingDown bool `json:"cooling_down"`
	// Until is when the current or last cooldown ends; absent when the endpoint never cooled down
	// since its last success.
	Until       *time.Time `json:"until,omitempty"`
	RemainingMS int64      `json:"remaining_ms,omitempty"`
}

// LLMView are the LLM proxy settings of an endpoint.
type LLMView struct {
	Fallback    bool            `json:"fallback"`
	RetryPolicy RetryPolicyView `json:"retry_policy"`
	// Keys is how many API keys the endpoint rotates through; the keys themselves are never shown.
	Keys int `json:"keys"`
	// HealthCheckInterval is the cooldown after exhausted retries, in milliseconds (as in pixiu.yaml).
	HealthCheckInterval int64 `json:"health_check_interval"`
	// Models are the models the endpoint lists (llm_meta.models); absent when it lists none.
	Models []string `json:"models,omitempty"`
}

// RetryPolicyView is the compiled retry policy and the config it was built from.
type RetryPolicyView struct {
	Name     string         `json:"name"`
	Attempts int            `json:"attempts"`
	Config   map[string]any `json:"config,omitempty"`
}

// RegistriesView is the body of GET /admin/registries.
type RegistriesView struct {
	GeneratedAt time.Time     `json:"generated_at"`
	Adapters    []AdapterView `json:"adapters"`
}

// AdapterView is one running adapter and, when it implements adapter.StatusReporter, its status.
type AdapterView struct {
	ID            string `json:"id"`
	ReportsStatus bool   `json:"reports_status"`
	Status        any    `json:"status,omitempty"`
	// Error is set when the adapter's Status failed.
	Error string `json:"error,omitempty"`
}

// ConsumersView is the body of GET /admin/consumers.
type ConsumersView struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Consumers   []ConsumerView `json:"consumers"`
}

// ConsumerView is a consumer of a listener's auth filter (dgp.filter.llm.auth): its name and
// how many keys it may present. The keys are never shown.
type ConsumerView struct {
	Listener string `json:"listener"`
	Name     string `json:"name"`
	Keys     int    `json:"keys"`
}

// ReadyView is the body of GET /readyz.
type ReadyView struct {
	Ready     bool              `json:"ready"`
	Listeners map[string]string `json:"listeners"`
	// Adapters summarizes registry reachability; it never makes the gateway unready.
	Adapters map[string]AdapterHealth `json:"adapters,omitempty"`
}

// AdapterHealth is what /readyz says about one adapter.
type AdapterHealth struct {
	// Reachable is true when every registry the adapter reports on is reachable, false when one
	// is not, and absent when the adapter does not report reachability.
	Reachable *bool `json:"reachable,omitempty"`
	// Registries is the reachability per registry, when the adapter reports several by name.
	Registries map[string]bool `json:"registries,omitempty"`
}

func clusterView(c *cluster.Cluster, now time.Time, secrets []string) ClusterView {
	v := ClusterView{Name: c.Name, LbPolicy: c.LbPolicy, Endpoints: make([]EndpointView, 0, len(c.Members))}
	if c.LbPolicy == model.LoadBalancerRingHashing || c.LbPolicy == model.LoadBalancerMaglevHashing {
		ch := c.ConsistentHash()
		v.Consistent = &ch
	}
	for i, m := range c.Members {
		ev := endpointView(m, now, secrets)
		ev.Position = i
		if !ev.Cooldown.CoolingDown {
			v.Available++
		}
		v.Endpoints = append(v.Endpoints, ev)
	}
	return v
}

func endpointView(m *cluster.Member, now time.Time, secrets []string) EndpointView {
	ep := m.Endpoint
	v := EndpointView{
		ID:     ep.ID,
		Name:   redact.Text(ep.Name, secrets...),
		Source: m.Source,
		Address: AddressView{
			Address: ep.Address.Address,
			Port:    ep.Address.Port,
			Domains: redact.Value(append([]string(nil), ep.Address.Domains...), secrets...).([]string),
		},
		Weight: m.Weight(),
		Meta:   redact.StringMap(ep.Metadata, secrets...),
		LLM:    LLMView{Keys: len(m.Keys)},
	}
	if m.Health != nil {
		v.Cooldown.CoolingDown = m.Health.CoolingDown(now)
		if ends := m.Health.CooldownEnds(); !ends.IsZero() {
			v.Cooldown.Until = &ends
			if v.Cooldown.CoolingDown {
				v.Cooldown.RemainingMS = ends.Sub(now).Milliseconds()
			}
		}
	}
	v.LLM.RetryPolicy.Name = retry.DefaultName
	v.LLM.RetryPolicy.Attempts = 1
	if m.Retry != nil {
		v.LLM.RetryPolicy.Name = m.Retry.Name()
		v.LLM.RetryPolicy.Attempts = m.Retry.Attempts()
	}
	if meta := ep.LLMMeta; meta != nil {
		v.LLM.Fallback = meta.Fallback
		v.LLM.HealthCheckInterval = meta.HealthCheckInterval
		v.LLM.Models = meta.Models
		if cfg, ok := redact.Value(meta.RetryPolicy.Config, secrets...).(map[string]any); ok && len(cfg) > 0 {
			v.LLM.RetryPolicy.Config = cfg
		}
	}
	return v
}

// adapterView asks an adapter for its report, redacts its status and summarizes its
// reachability. A panicking Report is reported, not propagated: the admin API must never take
// the gateway down.
func adapterView(id string, a adapter.Adapter, secrets []string) (v AdapterView, h AdapterHealth) {
	v.ID = id
	sr, ok := a.(adapter.StatusReporter)
	if !ok {
		return v, h
	}
	v.ReportsStatus = true
	defer func() {
		if r := recover(); r != nil {
			v.Status, h = nil, AdapterHealth{}
			v.Error = redact.Text(fmt.Sprintf("status failed: %v", r), secrets...)
		}
	}()
	report := sr.Report()
	v.Status = redact.JSON(report.Status, secrets...)
	return v, adapterHealth(report.Reachable)
}

// adapterHealth summarizes reachability per source: reachable when every source is.
func adapterHealth(reachable map[string]bool) AdapterHealth {
	if len(reachable) == 0 {
		return AdapterHealth{}
	}
	all := true
	for _, r := range reachable {
		all = all && r
	}
	return AdapterHealth{Reachable: &all, Registries: reachable}
}

// encode renders v as indented JSON, for humans with curl as much as for tools.
func encode(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
