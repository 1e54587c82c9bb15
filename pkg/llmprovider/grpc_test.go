package llmprovider

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Addresses the gRPC client cannot use are refused before anything is contacted.
func TestConnectGRPCRefusesUnusableAddresses(t *testing.T) {
	for _, addr := range []string{"", "https://127.0.0.1:8848", "127.0.0.1:8848/custom", "127.0.0.1:65000"} {
		_, err := ConnectGRPC(NacosOptions{Address: addr, Password: "pw-never-shown"})
		require.Error(t, err, addr)
		assert.NotContains(t, err.Error(), "pw-never-shown")
	}
}
