package server

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// A cluster declared with a hashing policy keeps it, and what it hashes, when a registry adds,
// replaces and removes its endpoints.
func TestRegistryChangesKeepAClustersHashingSettings(t *testing.T) {
	ch := model.ConsistentHash{Header: "x-session-id", ReplicaNum: 40}
	cm, err := NewClusterManager([]*model.ClusterConfig{{Name: "chat", LbStr: "RingHashing", ConsistentHash: ch}}, nil)
	require.NoError(t, err)
	reg := cm.ForSource("llm-registry")
	require.NoError(t, reg.SetEndpoint("chat", endpoint("a", "10.0.0.1", "")))
	require.NoError(t, reg.SetEndpoint("chat", endpoint("b", "10.0.0.2", "")))
	require.NoError(t, reg.SetEndpoint("chat", endpoint("a", "10.0.0.3", "")))
	require.NoError(t, reg.DeleteEndpoint("chat", "b"))
	c := cm.Cluster("chat")
	assert.Equal(t, model.LoadBalancerRingHashing, c.LbPolicy)
	assert.Equal(t, ch, c.ConsistentHash())
	require.Len(t, c.Members, 1)
}
