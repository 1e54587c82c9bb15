package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// Metadata keys a provider sets on its registry instance. See docs: registry.md.
const (
	KeyCluster           = "cluster"
	KeyID                = "id"
	KeyName              = "name"
	KeyIP                = "ip"
	KeyPort              = "port"
	KeyAddress           = "address"
	KeyFallback          = "llm-meta.fallback"
	KeyAPIKey            = "llm-meta.api_key"
	KeyAPIKeys           = "llm-meta.api_keys"
	KeyRetryPolicyName   = "llm-meta.retry_policy.name"
	KeyRetryPolicyConfig = "llm-meta.retry_policy.config"
	// KeyHealthCheckInterval mirrors llm_meta.health_check_interval of static endpoints: how many
	// milliseconds the endpoint is skipped after it exhausted its retries (0 = never).
	KeyHealthCheckInterval = "llm-meta.health_check_interval"
	// KeyModels lists the models the endpoint serves, comma separated (llm_meta.models).
	KeyModels = "llm-meta.models"

	// internalPrefix marks keys some registries (Polaris) add on their own.
	internalPrefix = "internal-nacos-"
)

// gatewayKeys are consumed by the conversion; every other key is kept as endpoint metadata.
var gatewayKeys = map[string]bool{
	KeyCluster: true, KeyID: true, KeyName: true, KeyIP: true, KeyPort: true, KeyAddress: true,
	KeyFallback: true, KeyAPIKey: true, KeyAPIKeys: true, KeyRetryPolicyName: true,
	KeyRetryPolicyConfig: true, KeyHealthCheckInterval: true, KeyModels: true,
}

// Instance is a registered service instance, independent of any registry SDK.
type Instance struct {
	Service string
	Group   string
	// InstanceID is the registry's own id of the instance, if it has one.
	InstanceID string
	IP         string
	Port       int
	Weight     float64
	Healthy    bool
	Enabled    bool
	Ephemeral  bool
	Metadata   map[string]string
}

// Key identifies the instance inside its service: ip:port when it has an ip, else its
// registry id. It is stable across reads of the same instance.
func (in Instance) Key() string {
	if in.IP != "" {
		return net.JoinHostPort(in.IP, strconv.Itoa(in.Port))
	}
	return in.InstanceID
}

// Serving reports whether the instance may carry traffic: enabled, healthy and weight > 0.
func (in Instance) Serving() bool {
	return in.Enabled && in.Healthy && in.Weight > 0 && !math.IsInf(in.Weight, 1)
}

// MetadataError says why an instance cannot become an endpoint: which instance, which metadata
// key, and why. Reasons never contain API keys.
type MetadataError struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	Key      string `json:"key"`
	Reason   string `json:"reason"`
}

func (e *MetadataError) Error() string {
	return fmt.Sprintf("service %q instance %s: %s: %s", e.Service, e.Instance, e.Key, e.Reason)
}

// InstanceToEndpoint converts a registered instance into the gateway endpoint it describes and
// the cluster it joins. It validates every metadata key it knows; on failure it returns a
// *MetadataError naming the first offending key. It does not look at Serving: whether the
// instance may carry traffic is the caller's decision.
func InstanceToEndpoint(in Instance) (clusterName string, ep *model.Endpoint, err error) {
	meta := metadata(in.Metadata)
	clusterName, ep, bad := readIdentity(in, meta)
	if bad == nil {
		bad = readAddress(in, meta, &ep.Address)
	}
	if bad == nil {
		bad = readLLMMeta(meta, ep.LLMMeta)
	}
	if bad == nil {
		bad = compile(ep)
	}
	if bad != nil {
		bad.Service, bad.Instance = in.Service, in.Key()
		return "", nil, bad
	}
	ep.Metadata = meta.unknown()
	return clusterName, ep, nil
}

// metadata is an instance's metadata as the conversion reads it.
type metadata map[string]string

// get is the value of key, spaces around it ignored.
func (m metadata) get(key string) string { return strings.TrimSpace(m[key]) }

// unknown is the metadata the conversion does not consume, kept as endpoint metadata.
func (m metadata) unknown() map[string]string {
	var out map[string]string
	for k, v := range m {
		if gatewayKeys[k] || strings.HasPrefix(k, internalPrefix) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// rejection is a *MetadataError whose caller fills in the service and instance.
func rejection(key, format string, args ...any) *MetadataError {
	return &MetadataError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// readIdentity reads the cluster the instance joins and starts its endpoint: id, name, weight.
func readIdentity(in Instance, meta metadata) (string, *model.Endpoint, *MetadataError) {
	clusterName := meta.get(KeyCluster)
	if clusterName == "" {
		return "", nil, rejection(KeyCluster, "missing: the instance names no gateway cluster, so it is not routed")
	}
	if math.IsNaN(in.Weight) || math.IsInf(in.Weight, 0) || in.Weight < 0 {
		return "", nil, rejection("weight", "instance weight %v is not a finite non-negative number", in.Weight)
	}
	id := meta.get(KeyID)
	if id == "" {
		id = derivedID(in)
		if id == "" {
			return "", nil, rejection(KeyID, "missing, and the instance has neither ip:port nor an instance id to derive one from")
		}
	}
	ep := &model.Endpoint{ID: id, Name: meta.get(KeyName), Weight: in.Weight, LLMMeta: &model.LLMMeta{}}
	if ep.Name == "" {
		ep.Name = id
	}
	return clusterName, ep, nil
}

// readAddress sets where the endpoint is dialled: the instance's own ip and port unless
// metadata overrides them; domains, when set, are what the proxy dials.
func readAddress(in Instance, meta metadata, addr *model.SocketAddress) *MetadataError {
	addr.Address, addr.Port = in.IP, in.Port
	if v := meta.get(KeyIP); v != "" {
		if !validHost(v) {
			return rejection(KeyIP, "%s is not an ip address or host name", quote(v))
		}
		addr.Address = v
	}
	if v := meta.get(KeyPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return rejection(KeyPort, "%s is not a port number (1-65535)", quote(v))
		}
		addr.Port = p
	}
	if v := meta.get(KeyAddress); v != "" {
		domains, bad := readDomains(v)
		if bad != nil {
			return bad
		}
		addr.Domains = domains
	}
	if len(addr.Domains) > 0 {
		return nil
	}
	if addr.Address == "" {
		return rejection(KeyIP, "no address to dial: the instance has no ip and metadata sets neither ip nor address")
	}
	if addr.Port < 1 || addr.Port > 65535 {
		return rejection(KeyPort, "no port to dial: instance port %d is not usable and metadata sets no port", addr.Port)
	}
	return nil
}

// readDomains reads the address key: domains separated by commas.
func readDomains(v string) ([]string, *MetadataError) {
	var domains []string
	for _, d := range strings.Split(v, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		if err := validDomain(d); err != nil {
			return nil, rejection(KeyAddress, "%s: %v", quote(d), err)
		}
		domains = append(domains, d)
	}
	if len(domains) == 0 {
		return nil, rejection(KeyAddress, "%s lists no host", quote(v))
	}
	return domains, nil
}

// readLLMMeta reads the llm-meta.* keys into llm.
func readLLMMeta(meta metadata, llm *model.LLMMeta) *MetadataError {
	if v := meta.get(KeyFallback); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return rejection(KeyFallback, "%s is not a boolean (true or false)", quote(v))
		}
		llm.Fallback = b
	}
	llm.APIKey = meta.get(KeyAPIKey)
	if v := meta.get(KeyAPIKeys); v != "" {
		keys, reason := parseAPIKeys(v)
		if reason != "" {
			return rejection(KeyAPIKeys, "%s", reason)
		}
		llm.APIKeys = keys
	}
	if v := meta.get(KeyHealthCheckInterval); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return rejection(KeyHealthCheckInterval, "%s is not a non-negative number of milliseconds", quote(v))
		}
		llm.HealthCheckInterval = ms
	}
	if v := meta.get(KeyModels); v != "" {
		llm.Models = splitModels(v)
	}
	return readRetryPolicy(meta, &llm.RetryPolicy)
}

// readRetryPolicy reads the policy's name and JSON config; compile checks that they make a policy.
func readRetryPolicy(meta metadata, rp *model.RetryPolicy) *MetadataError {
	name, rawConfig := meta.get(KeyRetryPolicyName), meta.get(KeyRetryPolicyConfig)
	var config map[string]any
	if rawConfig != "" {
		var v any
		if err := json.Unmarshal([]byte(rawConfig), &v); err != nil {
			return rejection(KeyRetryPolicyConfig, "%s is not valid JSON: %v", quote(rawConfig), jsonProblem(err))
		}
		if v != nil {
			m, ok := v.(map[string]any)
			if !ok {
				return rejection(KeyRetryPolicyConfig, "%s is not a JSON object", quote(rawConfig))
			}
			config = m
		}
	}
	if name != "" && !knownPolicy(name) {
		return rejection(KeyRetryPolicyName, "unknown retry policy %s (known: %s)", quote(name), strings.Join(retry.Names(), ", "))
	}
	*rp = model.RetryPolicy{Name: name, Config: config}
	return nil
}

// endpointKeys maps the endpoint keys cluster.Compile names to the metadata keys they come from.
var endpointKeys = map[string]string{
	"weight":                         "weight",
	"socket_address":                 KeyAddress,
	"socket_address.port":            KeyPort,
	"llm_meta.health_check_interval": KeyHealthCheckInterval,
	"llm_meta.models":                KeyModels,
	"llm_meta.retry_policy":          KeyRetryPolicyConfig,
}

// compile runs the check every endpoint goes through (cluster.Compile), so that an instance the
// cluster manager would refuse is rejected here with the metadata key at fault; it also writes
// the retry policy's canonical name.
func compile(ep *model.Endpoint) *MetadataError {
	c, err := cluster.Compile(ep)
	if err != nil {
		key := KeyAddress
		var ee *cluster.EndpointError
		if errors.As(err, &ee) && endpointKeys[ee.Key] != "" {
			key, err = endpointKeys[ee.Key], ee.Err
		}
		return rejection(key, "%v", err)
	}
	if ep.LLMMeta.RetryPolicy.Name != "" {
		ep.LLMMeta.RetryPolicy.Name = c.Retry.Name()
	}
	return nil
}

// derivedID is the endpoint id of an instance whose metadata sets none: stable for as long as the
// instance keeps its address, so repeated reads never look like a new endpoint.
func derivedID(in Instance) string {
	key := in.Key()
	if key == "" || in.Service == "" {
		return key
	}
	return in.Service + "@" + key
}

// splitModels reads llm-meta.models: model names separated by commas, spaces around them
// ignored.
func splitModels(v string) []string {
	names := strings.Split(v, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names
}

func knownPolicy(name string) bool {
	for _, known := range retry.Names() {
		if strings.EqualFold(known, name) {
			return true
		}
	}
	return false
}

// parseAPIKeys reads llm-meta.api_keys: a JSON array of keys or one plain key. The reason it
// returns on failure never quotes the value, which holds secrets.
func parseAPIKeys(v string) (keys []string, reason string) {
	if !strings.HasPrefix(v, "[") {
		return []string{v}, ""
	}
	var raw []any
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Sprintf("not a valid JSON array of strings (syntax error at offset %d)", syntax.Offset)
		}
		return nil, "not a valid JSON array of strings"
	}
	for i, item := range raw {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Sprintf("element %d is not a string", i)
		}
		if s = strings.TrimSpace(s); s != "" {
			keys = append(keys, s)
		}
	}
	return keys, ""
}

// validDomain accepts a bare host, host:port, or a base URL with http(s) scheme and a path.
func validDomain(d string) error {
	raw := d
	hasScheme := strings.Contains(d, "://")
	if !hasScheme {
		raw = "//" + d
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a host, host:port or base URL")
	}
	if hasScheme && u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return errors.New("credentials in the address are not allowed")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return errors.New("a query or fragment is not allowed")
	}
	if u.Hostname() == "" || !validHost(u.Hostname()) {
		return errors.New("no valid host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not 1-65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port")
	}
	return nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			default:
				return false
			}
		}
	}
	return true
}

func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("syntax error at offset %d", syntax.Offset)
	}
	return err.Error()
}

// quote renders a metadata value in a reason, without the credentials a URL can carry and
// shortened so a huge value cannot flood logs.
func quote(v string) string {
	v = redact.URL(v)
	const max = 64
	if r := []rune(v); len(r) > max {
		v = string(r[:max]) + "…"
	}
	return strconv.Quote(v)
}
