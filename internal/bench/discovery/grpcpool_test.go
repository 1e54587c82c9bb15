package discovery

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

// Over gRPC one connection holds one instance per service: the registrar spreads a service's
// instances over its connections, and says so when it runs out.
func TestGRPCRegistrarSpreadsAServiceOverConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("needs r-nacos")
	}
	srv := rnacos.StartForTest(t, rnacos.Options{})
	reg, err := NewGRPCRegistrar(srv.Addr(), "bench-pool", 2)
	require.NoError(t, err)
	defer reg.Close()

	a := Instance{Service: "pooled", Port: 41001, Cluster: "c", ID: "a", TargetPort: 1}
	b := Instance{Service: "pooled", Port: 41002, Cluster: "c", ID: "b", TargetPort: 1}
	c := Instance{Service: "pooled", Port: 41003, Cluster: "c", ID: "c", TargetPort: 1}
	require.NoError(t, reg.Register(a))
	require.NoError(t, reg.Register(b))
	assert.ErrorContains(t, reg.Register(c), "more than 2 instances")
	require.NoError(t, reg.Register(a), "registering again keeps the instance on its connection")
	require.Eventually(t, func() bool { return registeredIn(t, srv.Addr(), "bench-pool@@pooled") == 2 }, 10*time.Second, 50*time.Millisecond)

	require.NoError(t, reg.Deregister(b))
	require.NoError(t, reg.Register(c), "b's connection is free again")
	assert.Error(t, reg.Deregister(b), "b is gone")
}

// registeredIn counts the instances of service at the Nacos HTTP address addr.
func registeredIn(t *testing.T, addr, service string) int {
	q := url.Values{"serviceName": {service}, "namespaceId": {Namespace}, "healthyOnly": {"false"}}
	resp, err := http.Get("http://" + addr + "/nacos/v1/ns/instance/list?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var list struct {
		Hosts []struct{} `json:"hosts"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	return len(list.Hosts)
}
