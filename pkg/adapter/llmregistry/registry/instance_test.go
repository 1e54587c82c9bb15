package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/exponentialbackoff"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func instance(meta map[string]string) registry.Instance {
	return registry.Instance{
		Service: "deepseek", Group: "llm", InstanceID: "abc123", IP: "10.0.0.7", Port: 8080,
		Weight: 2.5, Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta,
	}
}

func convert(t *testing.T, meta map[string]string) (string, *model.Endpoint) {
	t.Helper()
	c, ep, err := registry.InstanceToEndpoint(instance(meta))
	require.NoError(t, err)
	require.NotNil(t, ep)
	return c, ep
}

func TestInstanceToEndpointMinimal(t *testing.T) {
	c, ep := convert(t, map[string]string{"cluster": "chat", "id": "ds-1"})
	assert.Equal(t, "chat", c)
	assert.Equal(t, "ds-1", ep.ID)
	assert.Equal(t, "ds-1", ep.Name, "name defaults to the id")
	assert.Equal(t, model.SocketAddress{Address: "10.0.0.7", Port: 8080}, ep.Address)
	assert.Equal(t, 2.5, ep.Weight, "the registry weight is kept")
	require.NotNil(t, ep.LLMMeta, "LLM settings are never nil")
	assert.Equal(t, model.LLMMeta{}, *ep.LLMMeta)
	assert.Nil(t, ep.Metadata)
}

func TestInstanceToEndpointEveryKey(t *testing.T) {
	c, ep := convert(t, map[string]string{
		"cluster":                        " chat ",
		"id":                             "ds-1",
		"name":                           "DeepSeek primary",
		"ip":                             "192.168.1.9",
		"port":                           "9443",
		"address":                        "api.deepseek.com, https://api.openai.com/v1 ,,proxy.local:8443",
		"llm-meta.fallback":              "true",
		"llm-meta.api_key":               "sk-primary",
		"llm-meta.api_keys":              `["sk-a", "sk-b", " "]`,
		"llm-meta.retry_policy.name":     "exponentialbackoff",
		"llm-meta.retry_policy.config":   `{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2.0}`,
		"llm-meta.health_check_interval": "5000",
		"llm-meta.models":                " deepseek-chat, deepseek-reasoner ",
		"internal-nacos-cluster":         "DEFAULT",
		"internal-nacos-service":         "llm@@deepseek",
		"model":                          "deepseek-chat",
	})
	assert.Equal(t, "chat", c)
	assert.Equal(t, "DeepSeek primary", ep.Name)
	assert.Equal(t, model.SocketAddress{Address: "192.168.1.9", Port: 9443,
		Domains: []string{"api.deepseek.com", "https://api.openai.com/v1", "proxy.local:8443"}}, ep.Address)
	assert.Equal(t, &model.LLMMeta{
		Fallback: true, APIKey: "sk-primary", APIKeys: []string{"sk-a", "sk-b"}, HealthCheckInterval: 5000,
		Models: []string{"deepseek-chat", "deepseek-reasoner"},
		RetryPolicy: model.RetryPolicy{Name: "ExponentialBackoff", Config: map[string]any{
			"times": 3.0, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2.0}},
	}, ep.LLMMeta)
	assert.Equal(t, []string{"sk-primary", "sk-a", "sk-b"}, ep.LLMMeta.Keys())
	assert.Equal(t, map[string]string{"model": "deepseek-chat"}, ep.Metadata,
		"gateway keys (secrets included) and internal-nacos-* keys are not copied into endpoint metadata")
}

func TestInstanceToEndpointFallbackValues(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "TRUE": true, "True": true, "1": true, "false": false, "False": false, "0": false, "": false} {
		_, ep := convert(t, map[string]string{"cluster": "c", "id": "x", "llm-meta.fallback": v})
		assert.Equal(t, want, ep.LLMMeta.Fallback, "fallback %q", v)
	}
}

func TestInstanceToEndpointDomainForms(t *testing.T) {
	for _, d := range []string{"api.deepseek.com", "api.deepseek.com:443", "https://api.openai.com/v1", "http://10.0.0.1:8000/openai/v1/", "[::1]:8080", "api.openai.com/v1"} {
		_, ep := convert(t, map[string]string{"cluster": "c", "id": "x", "address": d})
		assert.Equal(t, []string{d}, ep.Address.Domains)
	}
}

func TestInstanceToEndpointDomainsNeedNoInstanceAddress(t *testing.T) {
	in := instance(map[string]string{"cluster": "c", "id": "x", "address": "api.deepseek.com"})
	in.IP, in.Port = "", 0
	_, ep, err := registry.InstanceToEndpoint(in)
	require.NoError(t, err)
	assert.Equal(t, []string{"api.deepseek.com"}, ep.Address.Domains)
}

// A missing id must not become a new random id on every read.
func TestMissingIDIsStableAndDerivedFromTheInstance(t *testing.T) {
	meta := map[string]string{"cluster": "chat"}
	_, a := convert(t, meta)
	_, b := convert(t, meta)
	assert.Equal(t, a.ID, b.ID, "the same instance read twice has the same id")
	assert.Equal(t, "deepseek@10.0.0.7:8080", a.ID)

	other := instance(meta)
	other.Port = 8081
	_, c, err := registry.InstanceToEndpoint(other)
	require.NoError(t, err)
	assert.NotEqual(t, a.ID, c.ID, "two instances of one service get different ids")
}

// Without ip/port metadata the instance's own address is dialed, and a bad port is an
// error, never port 0.
func TestInstanceAddressIsTheDefaultDialAddress(t *testing.T) {
	_, ep := convert(t, map[string]string{"cluster": "chat", "id": "x"})
	assert.Equal(t, "10.0.0.7", ep.Address.Address)
	assert.Equal(t, 8080, ep.Address.Port)
	assert.NotEqual(t, "0.0.0.0", ep.Address.Address)

	_, ep = convert(t, map[string]string{"cluster": "chat", "id": "x", "port": "9000"})
	assert.Equal(t, "10.0.0.7", ep.Address.Address, "port overrides only the port")
	assert.Equal(t, 9000, ep.Address.Port)

	_, _, err := registry.InstanceToEndpoint(instance(map[string]string{"cluster": "chat", "id": "x", "port": "http"}))
	assertRejected(t, err, "port")
}

// The retry policy name is case-insensitive.
func TestRetryPolicyNameIsCaseInsensitive(t *testing.T) {
	for _, name := range []string{"CountBased", "countbased", "COUNTBASED", "countBased", " CountBased "} {
		_, ep := convert(t, map[string]string{"cluster": "c", "id": "x",
			"llm-meta.retry_policy.name": name, "llm-meta.retry_policy.config": `{"times": 2}`})
		assert.Equal(t, "CountBased", ep.LLMMeta.RetryPolicy.Name, name)
		p, err := retry.New(ep.LLMMeta.RetryPolicy.Name, ep.LLMMeta.RetryPolicy.Config)
		require.NoError(t, err)
		assert.Equal(t, 3, p.Attempts())
	}
	for _, name := range []string{"noretry", "NORETRY", "exponentialBACKOFF"} {
		convert(t, map[string]string{"cluster": "c", "id": "x", "llm-meta.retry_policy.name": name})
	}
}

func TestRetryConfigTimesForms(t *testing.T) {
	for _, times := range []string{`2`, `2.0`, `"2"`} {
		_, ep := convert(t, map[string]string{"cluster": "c", "id": "x",
			"llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{"times": ` + times + `}`})
		p, err := retry.New(ep.LLMMeta.RetryPolicy.Name, ep.LLMMeta.RetryPolicy.Config)
		require.NoError(t, err)
		assert.Equal(t, 3, p.Attempts(), "times %s", times)
	}
	_, ep := convert(t, map[string]string{"cluster": "c", "id": "x",
		"llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `null`})
	assert.Nil(t, ep.LLMMeta.RetryPolicy.Config)
}

// The published example registers llm-meta.api_keys.
func TestAPIKeysAliasOfThePublishedExample(t *testing.T) {
	_, ep := convert(t, map[string]string{"cluster": "c", "id": "x", "llm-meta.api_keys": "sk-only"})
	assert.Equal(t, []string{"sk-only"}, ep.LLMMeta.Keys(), "one plain key")

	_, ep = convert(t, map[string]string{"cluster": "c", "id": "x", "llm-meta.api_keys": `["sk-1","sk-2"]`})
	assert.Equal(t, []string{"sk-1", "sk-2"}, ep.LLMMeta.Keys(), "a JSON array of keys, rotated")

	_, ep = convert(t, map[string]string{"cluster": "c", "id": "x", "llm-meta.api_keys": `[]`})
	assert.Empty(t, ep.LLMMeta.Keys())
}

func TestInstanceToEndpointRejections(t *testing.T) {
	const secret = "sk-very-secret-value-123"
	cases := []struct {
		name string
		meta map[string]string
		edit func(*registry.Instance)
		key  string
	}{
		{"missing cluster", map[string]string{"id": "x"}, nil, "cluster"},
		{"blank cluster", map[string]string{"cluster": "  ", "id": "x"}, nil, "cluster"},
		{"port not a number", map[string]string{"cluster": "c", "port": "eighty"}, nil, "port"},
		{"port zero", map[string]string{"cluster": "c", "port": "0"}, nil, "port"},
		{"port too big", map[string]string{"cluster": "c", "port": "65536"}, nil, "port"},
		{"port negative", map[string]string{"cluster": "c", "port": "-1"}, nil, "port"},
		{"port fraction", map[string]string{"cluster": "c", "port": "80.5"}, nil, "port"},
		{"ip with a path", map[string]string{"cluster": "c", "ip": "10.0.0.1/24"}, nil, "ip"},
		{"ip with spaces", map[string]string{"cluster": "c", "ip": "my host"}, nil, "ip"},
		{"address scheme", map[string]string{"cluster": "c", "address": "ftp://files.example.com"}, nil, "address"},
		{"address without host", map[string]string{"cluster": "c", "address": "https://"}, nil, "address"},
		{"address bad port", map[string]string{"cluster": "c", "address": "api.example.com:99999"}, nil, "address"},
		{"address empty port", map[string]string{"cluster": "c", "address": "api.example.com:"}, nil, "address"},
		{"address with query", map[string]string{"cluster": "c", "address": "https://api.example.com/v1?x=1"}, nil, "address"},
		{"address with credentials", map[string]string{"cluster": "c", "address": "https://u:p@api.example.com"}, nil, "address"},
		{"address only commas", map[string]string{"cluster": "c", "address": " , ,"}, nil, "address"},
		{"fallback not a boolean", map[string]string{"cluster": "c", "llm-meta.fallback": "yes"}, nil, "llm-meta.fallback"},
		{"api_keys bad JSON", map[string]string{"cluster": "c", "llm-meta.api_keys": `["` + secret + `"`}, nil, "llm-meta.api_keys"},
		{"api_keys not strings", map[string]string{"cluster": "c", "llm-meta.api_keys": `["` + secret + `", 7]`}, nil, "llm-meta.api_keys"},
		{"unknown retry policy", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "Forever"}, nil, "llm-meta.retry_policy.name"},
		{"retry config bad JSON", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{times: 2}`}, nil, "llm-meta.retry_policy.config"},
		{"retry config not an object", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `[2]`}, nil, "llm-meta.retry_policy.config"},
		{"retry negative times", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{"times": -1}`}, nil, "llm-meta.retry_policy.config"},
		{"retry fractional times", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "CountBased", "llm-meta.retry_policy.config": `{"times": 1.5}`}, nil, "llm-meta.retry_policy.config"},
		{"retry bad duration", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "ExponentialBackoff", "llm-meta.retry_policy.config": `{"initialInterval": "soon"}`}, nil, "llm-meta.retry_policy.config"},
		{"retry multiplier below 1", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "ExponentialBackoff", "llm-meta.retry_policy.config": `{"multiplier": 0.5}`}, nil, "llm-meta.retry_policy.config"},
		{"retry initial above max", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "ExponentialBackoff", "llm-meta.retry_policy.config": `{"initialInterval": "5s", "maxInterval": "1s"}`}, nil, "llm-meta.retry_policy.config"},
		{"retry config without a name", map[string]string{"cluster": "c", "llm-meta.retry_policy.config": `{"times": 2}`}, nil, "llm-meta.retry_policy.config"},
		{"NoRetry with several config keys", map[string]string{"cluster": "c", "llm-meta.retry_policy.name": "NoRetry", "llm-meta.retry_policy.config": `{"b": 1, "a": 2, "c": 3, "d": 4}`}, nil, "llm-meta.retry_policy.config"},
		{"health check interval negative", map[string]string{"cluster": "c", "llm-meta.health_check_interval": "-5"}, nil, "llm-meta.health_check_interval"},
		{"health check interval not a number", map[string]string{"cluster": "c", "llm-meta.health_check_interval": "5s"}, nil, "llm-meta.health_check_interval"},
		{"models with an empty name", map[string]string{"cluster": "c", "llm-meta.models": "a,,b"}, nil, "llm-meta.models"},
		{"models with a trailing comma", map[string]string{"cluster": "c", "llm-meta.models": "a,b,"}, nil, "llm-meta.models"},
		{"models listed twice", map[string]string{"cluster": "c", "llm-meta.models": "a, b, a"}, nil, "llm-meta.models"},
		{"model with a space", map[string]string{"cluster": "c", "llm-meta.models": "gpt 4o"}, nil, "llm-meta.models"},
		{"no address at all", map[string]string{"cluster": "c", "id": "x"}, func(in *registry.Instance) { in.IP = "" }, "ip"},
		{"no usable port", map[string]string{"cluster": "c", "id": "x"}, func(in *registry.Instance) { in.Port = 0 }, "port"},
		{"no id and no identity", map[string]string{"cluster": "c"}, func(in *registry.Instance) { in.IP, in.InstanceID = "", "" }, "id"},
		{"weight not a number", map[string]string{"cluster": "c", "id": "x"}, func(in *registry.Instance) { in.Weight = -1 }, "weight"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.meta["llm-meta.api_key"] = secret
			in := instance(tc.meta)
			if tc.edit != nil {
				tc.edit(&in)
			}
			c, ep, err := registry.InstanceToEndpoint(in)
			assert.Empty(t, c)
			assert.Nil(t, ep)
			me := assertRejected(t, err, tc.key)
			assert.Equal(t, "deepseek", me.Service)
			assert.Equal(t, in.Key(), me.Instance)
			assert.Contains(t, err.Error(), `"deepseek"`, "the error names the service")
			assert.Contains(t, err.Error(), tc.key, "the error names the key")
			assert.NotContains(t, err.Error(), secret, "the error never quotes an API key")
			for i := 0; i < 20; i++ {
				_, _, again := registry.InstanceToEndpoint(in)
				require.Equal(t, err.Error(), again.Error(), "the same instance always gets the same reason (else it is re-reported on every read)")
			}
		})
	}
}

func assertRejected(t *testing.T, err error, key string) *registry.MetadataError {
	t.Helper()
	var me *registry.MetadataError
	require.True(t, errors.As(err, &me), "want *MetadataError, got %v", err)
	assert.Equal(t, key, me.Key)
	assert.NotEmpty(t, strings.TrimSpace(me.Reason))
	return me
}

func TestInstanceServing(t *testing.T) {
	in := instance(nil)
	assert.True(t, in.Serving())
	for name, edit := range map[string]func(*registry.Instance){
		"disabled":  func(in *registry.Instance) { in.Enabled = false },
		"unhealthy": func(in *registry.Instance) { in.Healthy = false },
		"weight 0":  func(in *registry.Instance) { in.Weight = 0 },
	} {
		in := instance(nil)
		edit(&in)
		assert.False(t, in.Serving(), name)
	}
}

func TestInstanceKey(t *testing.T) {
	assert.Equal(t, "10.0.0.7:8080", instance(nil).Key())
	in := instance(nil)
	in.IP = "::1"
	assert.Equal(t, "[::1]:8080", in.Key())
	in.IP = ""
	assert.Equal(t, "abc123", in.Key())
}

func TestRejectionsDoNotQuoteURLCredentials(t *testing.T) {
	for _, address := range []string{"https://bob:hunter2@api.example.com", "https://api.example.com/v1?key=hunter2"} {
		_, _, err := registry.InstanceToEndpoint(instance(map[string]string{"cluster": "c", "address": address}))
		assertRejected(t, err, "address")
		assert.NotContains(t, err.Error(), "hunter2")
		assert.Contains(t, err.Error(), "api.example.com", "the host is still named")
	}
}
