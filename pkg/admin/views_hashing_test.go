package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// The cluster view says what a hashing cluster hashes, and nothing of it for other policies.
func TestClusterViewShowsTheHashingSettingsOfHashingClusters(t *testing.T) {
	members := func() []*cluster.Member {
		return []*cluster.Member{{Endpoint: &model.Endpoint{ID: "a", Address: model.SocketAddress{Address: "10.0.0.1", Port: 80}}, Health: new(cluster.Health)}}
	}
	ch := model.ConsistentHash{Header: "x-session-id"}
	hashed := clusterView(cluster.New("chat", "ring_hashing", members(), nil, cluster.WithConsistentHash(ch)), time.Now(), nil)
	assert.Equal(t, model.LoadBalancerRingHashing, hashed.LbPolicy)
	require.NotNil(t, hashed.Consistent)
	assert.Equal(t, ch, *hashed.Consistent)

	plain := clusterView(cluster.New("chat", "RoundRobin", members(), nil), time.Now(), nil)
	assert.Nil(t, plain.Consistent)
}
