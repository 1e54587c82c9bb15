package nacos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos/grpcnaming"
)

// Over gRPC the token comes from the HTTP client's login, against r-nacos with auth on: the
// right password works; a token the server refuses is replaced by a fresh login; a wrong
// password fails New naming the registry and the user, never the password; without a login the
// server answers nothing.
func TestGRPCLoginThroughTheHTTPClient(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real Nacos server (r-nacos)")
	}
	const user, password, group = "pixiu", "s3cret-Passw0rd", "pixiu-login"
	srv := rnacos.StartForTest(t, rnacos.Options{Username: user, Password: password})
	service := fmt.Sprintf("login-%d", time.Now().UnixNano())

	c := grpcClient(t, srv.Addr(), loginClient(t, srv.Addr(), user, password))
	require.NoError(t, c.Register(registry.Instance{Service: service, Group: group, IP: "127.0.0.1", Port: 18089,
		Weight: 1, Enabled: true, Healthy: true}))
	require.Eventually(t, func() bool {
		names, err := c.Services(group)
		return err == nil && assert.ObjectsAreEqual([]string{service}, names)
	}, 10*time.Second, 100*time.Millisecond, "registered and listed with the token")

	stale := &refusedFirst{TokenSource: loginClient(t, srv.Addr(), user, password)}
	names, err := grpcClient(t, srv.Addr(), stale).Services(group)
	require.NoError(t, err, "a refused token is replaced and the request sent again")
	assert.Equal(t, []string{service}, names)
	assert.Equal(t, []string{notAToken}, stale.refusedTokens())

	_, err = grpcnaming.New(grpcnaming.Config{Addresses: []string{srv.Addr()}, Timeout: 3 * time.Second,
		Auth: loginClient(t, srv.Addr(), user, "wrong-"+password)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), srv.Addr(), "the error names the registry")
	assert.Contains(t, err.Error(), fmt.Sprintf("%q", user))
	assert.NotContains(t, err.Error(), password)
	t.Logf("wrong password: %v", err)

	_, err = grpcClient(t, srv.Addr(), nil).Services(group)
	require.Error(t, err, "no login, no service list")
	assert.Contains(t, err.Error(), srv.Addr())
}

func loginClient(t *testing.T, addr, user, password string) *Client {
	t.Helper()
	c, err := LoginClient(ClientOptions{Address: addr, Username: user, Password: password, Timeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// grpcClient connects to the server at addr (HTTP port) with auth (nil: none), until the test ends.
func grpcClient(t *testing.T, addr string, auth grpcnaming.TokenSource) *grpcnaming.Client {
	t.Helper()
	c, err := grpcnaming.New(grpcnaming.Config{Addresses: []string{addr}, Timeout: 3 * time.Second, Auth: auth})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.Eventually(t, c.Connected, 10*time.Second, 20*time.Millisecond)
	return c
}

const notAToken = "not-a-token"

// refusedFirst hands out a token the server does not know until it is refused.
type refusedFirst struct {
	grpcnaming.TokenSource
	mu      sync.Mutex
	refused []string
}

func (r *refusedFirst) Token(ctx context.Context) (string, error) {
	r.mu.Lock()
	fresh := len(r.refused) > 0
	r.mu.Unlock()
	if !fresh {
		return notAToken, nil
	}
	return r.TokenSource.Token(ctx)
}

func (r *refusedFirst) Refused(token string) {
	r.mu.Lock()
	r.refused = append(r.refused, token)
	r.mu.Unlock()
	r.TokenSource.Refused(token)
}

func (r *refusedFirst) refusedTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refused...)
}
