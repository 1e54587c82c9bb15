package registry_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
)

// FuzzInstanceToEndpoint feeds arbitrary metadata to the conversion. It must never panic; an
// accepted instance must make an endpoint the cluster manager can build; a rejection must name
// a key and never quote the API key.
func FuzzInstanceToEndpoint(f *testing.F) {
	f.Add("chat", "ds-1", "", "", "", "", "true", "sk-secret-key", `["sk-a","sk-b"]`, "CountBased", `{"times":2}`, "10.0.0.1", 8080, 1.0)
	f.Add("chat", "", "10.1.1.1", "9000", "https://api.openai.com/v1", "", "false", "", "", "ExponentialBackoff", `{"times":3,"initialInterval":"200ms","maxInterval":"5s","multiplier":2.0}`, "", 0, 0.0)
	f.Add("", "x", "bad host", "70000", "ftp://x", "-1", "maybe", "k", `["unterminated`, "nope", `{bad`, "10.0.0.1", -5, -1.0)
	f.Fuzz(func(t *testing.T, cluster, id, ip, port, address, hci, fallback, apiKey, apiKeys, policy, policyConfig, instIP string, instPort int, weight float64) {
		meta := map[string]string{}
		set := func(k, v string) {
			if v != "" {
				meta[k] = v
			}
		}
		set(registry.KeyCluster, cluster)
		set(registry.KeyID, id)
		set(registry.KeyIP, ip)
		set(registry.KeyPort, port)
		set(registry.KeyAddress, address)
		set(registry.KeyHealthCheckInterval, hci)
		set(registry.KeyFallback, fallback)
		set(registry.KeyAPIKey, apiKey)
		set(registry.KeyAPIKeys, apiKeys)
		set(registry.KeyRetryPolicyName, policy)
		set(registry.KeyRetryPolicyConfig, policyConfig)
		in := registry.Instance{Service: "svc", IP: instIP, Port: instPort, Weight: weight, Enabled: true, Healthy: true, Metadata: meta}

		c, ep, err := registry.InstanceToEndpoint(in)
		if err != nil {
			var me *registry.MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error is not a *MetadataError: %v", err)
			}
			if me.Key == "" || me.Reason == "" {
				t.Fatalf("rejection without key or reason: %#v", me)
			}
			// The API key plays no part in validation, so it cannot shape a rejection.
			other := in
			other.Metadata = maps.Clone(meta)
			if apiKey != "" {
				other.Metadata[registry.KeyAPIKey] = "sk-replaced"
			}
			if _, _, err2 := registry.InstanceToEndpoint(other); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("the API key changed the rejection: %v vs %v", err, err2)
			}
			if me.Key == registry.KeyAPIKeys && !strings.HasPrefix(me.Reason, "not a valid JSON array") && !strings.HasPrefix(me.Reason, "element ") {
				t.Fatalf("api_keys rejection may quote the keys: %q", me.Reason)
			}
			if c != "" || ep != nil {
				t.Fatalf("rejection returned a result")
			}
			return
		}
		if c == "" || ep == nil || ep.ID == "" || ep.LLMMeta == nil {
			t.Fatalf("accepted instance made an incomplete endpoint: cluster %q, %#v", c, ep)
		}
		if len(ep.Address.Domains) == 0 && (ep.Address.Address == "" || ep.Address.Port < 1 || ep.Address.Port > 65535) {
			t.Fatalf("accepted endpoint has nothing to dial: %#v", ep.Address)
		}
		if _, err := retry.New(ep.LLMMeta.RetryPolicy.Name, ep.LLMMeta.RetryPolicy.Config); err != nil {
			t.Fatalf("accepted retry policy does not build: %v", err)
		}
		for k := range ep.Metadata {
			if k == registry.KeyAPIKey || k == registry.KeyAPIKeys {
				t.Fatalf("API key copied into endpoint metadata")
			}
		}
	})
}
