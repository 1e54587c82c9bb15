// Package llmprovider is the provider side of the LLM registry: it turns a provider's gateway
// settings into Nacos instance metadata, checks that metadata with the very conversion the
// gateway's registry adapter uses, and registers (and deregisters) the instance in Nacos.
// The `pixiu llm` commands and the demo are thin shells around it.
package llmprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/model"

	// The gateway's retry policies, so that a policy name is checked against the same list.
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

// Spec is the gateway configuration a provider publishes with its Nacos instance. Zero fields are
// left out of the metadata, so the gateway applies its defaults.
type Spec struct {
	// Cluster is the gateway cluster the endpoint joins (required).
	Cluster string
	// ID is the endpoint id, unique inside the cluster. Empty: the gateway derives a stable id
	// from the service name and the instance's ip:port.
	ID string
	// Name is a human-readable name for logs and metrics.
	Name string
	// IP and Port override the instance's own ip and port as the address the gateway dials.
	IP   string
	Port int
	// Address lists domains (host, host:port or a base URL such as https://api.openai.com/v1);
	// the gateway dials the first one instead of ip:port.
	Address []string
	// APIKey is sent upstream by the gateway as "Authorization: Bearer <key>".
	APIKey string
	// RetryPolicy is CountBased, ExponentialBackoff or NoRetry (case-insensitive); RetryConfig is
	// its JSON object, e.g. {"times": 2}.
	RetryPolicy string
	RetryConfig string
	// Fallback lets a request go on to the next endpoint once this one's retries are exhausted.
	Fallback bool
	// Models are the model names the endpoint serves (the gateway's model catalog and model
	// routing); empty lists none.
	Models []string
	// Extra are further metadata keys, kept on the endpoint as plain metadata. They may not set
	// the keys above.
	Extra map[string]string
}

// managedKeys are the metadata keys Spec fields own.
var managedKeys = []string{
	registry.KeyCluster, registry.KeyID, registry.KeyName, registry.KeyIP, registry.KeyPort,
	registry.KeyAddress, registry.KeyFallback, registry.KeyAPIKey, registry.KeyAPIKeys,
	registry.KeyRetryPolicyName, registry.KeyRetryPolicyConfig, registry.KeyModels,
}

// Metadata returns the instance metadata for s. It fails when Extra sets a key a field owns, so
// two sources can never disagree about a setting.
func (s Spec) Metadata() (map[string]string, error) {
	meta := map[string]string{}
	for k, v := range s.Extra {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("metadata: empty key")
		}
		for _, owned := range managedKeys {
			if k == owned {
				return nil, fmt.Errorf("metadata key %q is set by its own option, not as extra metadata", k)
			}
		}
		meta[k] = v
	}
	set := func(key, value string) {
		if value = strings.TrimSpace(value); value != "" {
			meta[key] = value
		}
	}
	set(registry.KeyCluster, s.Cluster)
	set(registry.KeyID, s.ID)
	set(registry.KeyName, s.Name)
	set(registry.KeyIP, s.IP)
	if s.Port != 0 {
		meta[registry.KeyPort] = strconv.Itoa(s.Port)
	}
	set(registry.KeyAddress, strings.Join(s.Address, ","))
	meta[registry.KeyFallback] = strconv.FormatBool(s.Fallback)
	set(registry.KeyAPIKey, s.APIKey)
	set(registry.KeyRetryPolicyName, s.RetryPolicy)
	set(registry.KeyRetryPolicyConfig, s.RetryConfig)
	set(registry.KeyModels, strings.Join(s.Models, ","))
	return meta, nil
}

// Instance is a provider instance as it is registered in Nacos: healthy, enabled and ephemeral.
type Instance struct {
	// Service is the Nacos service name; Group its group ("" = DEFAULT_GROUP).
	Service string
	Group   string
	// IP and Port are the instance's own address, its identity in Nacos.
	IP   string
	Port uint64
	// Weight is the Nacos instance weight, kept by the gateway for WeightRandom balancing.
	Weight   float64
	Metadata map[string]string
}

func (in Instance) String() string {
	return fmt.Sprintf("%s %s", in.Service, net.JoinHostPort(in.IP, strconv.FormatUint(in.Port, 10)))
}

func (in Instance) group() string {
	if strings.TrimSpace(in.Group) == "" {
		return DefaultGroup
	}
	return strings.TrimSpace(in.Group)
}

// registryInstance is the instance as the gateway's registry adapter reads it back from Nacos.
func (in Instance) registryInstance() registry.Instance {
	return registry.Instance{
		Service:   in.Service,
		Group:     in.group(),
		IP:        in.IP,
		Port:      int(in.Port),
		Weight:    in.Weight,
		Healthy:   true,
		Enabled:   true,
		Ephemeral: true,
		Metadata:  in.Metadata,
	}
}

// Summary is what the gateway makes of an instance. It never holds API keys, only their number.
type Summary struct {
	Service  string
	Instance string
	Cluster  string
	ID       string
	Name     string
	// Target is what the gateway dials: the first domain, or ip:port.
	Target string
	// TargetHasScheme is false when the scheme comes from the LLM proxy filter's `scheme` option.
	TargetHasScheme bool
	Domains         []string
	Fallback        bool
	RetryPolicy     string
	RetryConfig     map[string]any
	// Attempts is the number of tries on this endpoint per request, the first included.
	Attempts int
	APIKeys  int
	// CooldownMS is how long the endpoint is skipped after it exhausted its retries (0 = never).
	CooldownMS int64
	Weight     float64
	// Serving is false when the instance carries no traffic (weight 0).
	Serving bool
	// Models are the models the endpoint serves, as listed.
	Models []string
	// Extra are the metadata keys the gateway keeps as plain endpoint metadata, sorted.
	Extra []string
}

// Check converts the instance exactly as the gateway's registry adapter will, and reports the
// outcome. A rejection is a *registry.MetadataError naming the service, instance and key.
func Check(in Instance) (*Summary, error) {
	return check(in, true)
}

// CheckFile checks an instance file (see ParseFile) as Check does.
func CheckFile(data []byte) (*Summary, error) {
	in, addressKnown, err := ParseFile(data)
	if err != nil {
		return nil, err
	}
	return check(in, addressKnown)
}

func check(in Instance, addressKnown bool) (*Summary, error) {
	ri := in.registryInstance()
	clusterName, ep, err := registry.InstanceToEndpoint(ri)
	if err != nil {
		var me *registry.MetadataError
		if !addressKnown && errors.As(err, &me) {
			me.Instance = unknownAddress(me.Instance)
		}
		return nil, err
	}
	s := &Summary{
		Service:  in.Service,
		Instance: ri.Key(),
		Cluster:  clusterName,
		ID:       ep.ID,
		Name:     ep.Name,
		Domains:  ep.Address.Domains,
		Weight:   ep.Weight,
		Serving:  ri.Serving(),
	}
	if len(ep.Address.Domains) > 0 {
		s.Target = ep.Address.Domains[0]
		s.TargetHasScheme = strings.Contains(s.Target, "://")
	} else {
		s.Target = net.JoinHostPort(ep.Address.Address, strconv.Itoa(ep.Address.Port))
	}
	if m := ep.LLMMeta; m != nil {
		s.Fallback = m.Fallback
		s.APIKeys = len(m.Keys())
		s.CooldownMS = m.HealthCheckInterval
		s.RetryConfig = m.RetryPolicy.Config
		s.Models = m.Models
	}
	policy, err := retryPolicy(ep.LLMMeta)
	if err != nil {
		return nil, err
	}
	s.RetryPolicy, s.Attempts = policy.Name(), policy.Attempts()
	for k := range ep.Metadata {
		s.Extra = append(s.Extra, k)
	}
	sort.Strings(s.Extra)
	if !addressKnown {
		s.Instance, s.ID, s.Name, s.Target = unknownAddress(s.Instance), unknownAddress(s.ID), unknownAddress(s.Name), unknownAddress(s.Target)
	}
	return s, nil
}

// unknownAddress spells out the placeholders ParseFile used for an instance address a file did
// not give.
func unknownAddress(s string) string {
	s = strings.ReplaceAll(s, net.JoinHostPort(unknownIP, strconv.Itoa(unknownPort)), "<instance ip>:<instance port>")
	s = strings.ReplaceAll(s, unknownIP, "<instance ip>")
	return strings.ReplaceAll(s, ":"+strconv.Itoa(unknownPort), ":<instance port>")
}

// Lines renders the summary for people, one fact per line.
func (s *Summary) Lines() []string {
	target := s.Target
	if !s.TargetHasScheme {
		target += " (scheme: the llm proxy filter's `scheme`, default http)"
	}
	retry := s.RetryPolicy
	if len(s.RetryConfig) > 0 {
		cfg, _ := json.Marshal(s.RetryConfig)
		retry += " " + string(cfg)
	}
	retry += fmt.Sprintf(" (%d attempt%s per request)", s.Attempts, plural(s.Attempts))
	lines := []string{
		"cluster:   " + s.Cluster,
		"endpoint:  " + s.ID + nameSuffix(s.Name, s.ID),
		"upstream:  " + target,
		"fallback:  " + strconv.FormatBool(s.Fallback),
		"retry:     " + retry,
		fmt.Sprintf("api keys:  %d", s.APIKeys),
	}
	if s.CooldownMS > 0 {
		lines = append(lines, fmt.Sprintf("cooldown:  %d ms after its retries are exhausted", s.CooldownMS))
	}
	weight := strconv.FormatFloat(s.Weight, 'g', -1, 64)
	if !s.Serving {
		weight += " (carries no traffic)"
	}
	lines = append(lines, "weight:    "+weight)
	models := "none listed (in no model catalog; not used by model_routing routes)"
	if len(s.Models) > 0 {
		models = strings.Join(s.Models, ", ")
	}
	lines = append(lines, "models:    "+models)
	if len(s.Extra) > 0 {
		lines = append(lines, "metadata:  "+strings.Join(s.Extra, ", "))
	}
	return lines
}

func nameSuffix(name, id string) string {
	if name == "" || name == id {
		return ""
	}
	return " (" + name + ")"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func retryPolicy(m *model.LLMMeta) (retry.Policy, error) {
	if m == nil {
		return retry.New("", nil)
	}
	return retry.New(m.RetryPolicy.Name, m.RetryPolicy.Config)
}

// secretValues are the API keys in instance metadata, for scrubbing messages.
func secretValues(meta map[string]string) []string {
	var out []string
	if k := strings.TrimSpace(meta[registry.KeyAPIKey]); k != "" {
		out = append(out, k)
	}
	if v := strings.TrimSpace(meta[registry.KeyAPIKeys]); v != "" {
		out = append(out, v)
		var keys []string
		if json.Unmarshal([]byte(v), &keys) == nil {
			out = append(out, keys...)
		}
	}
	return out
}
