package polaris_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/polaris"
)

// freeNacosPort finds a loopback port p with p+1000 free too (the registry's gRPC port).
func freeNacosPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if p+1000 > 65535 {
			continue
		}
		if g, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1000)); err == nil {
			_ = g.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// A fixed Nacos port (pixiu-devregistry -addr) serves the Nacos API there, and a second server
// on the same port is refused with a message naming it.
func TestStartOnAFixedNacosPort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts the registry server")
	}
	port := freeNacosPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s, err := polaris.Start(ctx, polaris.Options{StopGrace: -1, NacosPort: port})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Stop()) })
	assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", port), s.Addr())

	resp, err := http.Get("http://" + s.Addr() + "/nacos/v1/ns/service/list?pageNo=1&pageSize=10")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = polaris.Start(ctx, polaris.Options{StopGrace: -1, NacosPort: port})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("127.0.0.1:%d is in use", port))
}
