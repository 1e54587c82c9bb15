package cluster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func member(id string, models ...string) *cluster.Member {
	ep := &model.Endpoint{ID: id, Address: model.SocketAddress{Address: "127.0.0.1", Port: 1}}
	if models != nil {
		ep.LLMMeta = &model.LLMMeta{Models: models}
	}
	return &cluster.Member{Endpoint: ep, Source: cluster.SourceStatic, Health: new(cluster.Health)}
}

func ids(members []*cluster.Member) []string {
	var out []string
	for _, m := range members {
		out = append(out, m.ID())
	}
	return out
}

func TestForModelNarrowsToTheMembersListingIt(t *testing.T) {
	c := cluster.New("chat", model.LoadBalancerRoundRobin, []*cluster.Member{
		member("a", "chat", "reasoner"),
		member("any"), // lists no models
		member("b", "chat"),
		member("c", "reasoner", "embed"),
	}, nil)

	chat := c.ForModel("chat")
	require.NotNil(t, chat)
	assert.Equal(t, "chat", chat.Name)
	assert.Equal(t, model.LoadBalancerRoundRobin, chat.LbPolicy)
	assert.Equal(t, []string{"a", "b"}, ids(chat.Members), "in cluster order, without the member listing no models")
	assert.Equal(t, []string{"a", "c"}, ids(c.ForModel("reasoner").Members))
	assert.Nil(t, c.ForModel("unknown"))
	assert.Nil(t, c.ForModel(""))

	// Fallback inside a view walks the view, not the whole cluster.
	assert.Equal(t, []string{"b"}, ids(chat.After(chat.Members[0], time.Now())))
	// The view's members are the cluster's endpoints, sharing their health.
	assert.Same(t, c.Member("a").Health, chat.Member("a").Health)
}

func TestForModelRoundRobinsInsideTheView(t *testing.T) {
	c := cluster.New("chat", model.LoadBalancerRoundRobin, []*cluster.Member{
		member("a", "m"), member("x", "other"), member("b", "m"), member("c", "m"),
	}, nil)
	view := c.ForModel("m")
	seen := map[string]int{}
	now := time.Now()
	for range 30 {
		seen[view.Pick(now).ID()]++
	}
	assert.Equal(t, map[string]int{"a": 10, "b": 10, "c": 10}, seen)
}

func TestServedModelsLeaveOutCoolingMembers(t *testing.T) {
	c := cluster.New("chat", "", []*cluster.Member{
		member("a", "chat", "reasoner"), member("b", "chat"), member("any"),
	}, nil)
	now := time.Now()
	assert.Equal(t, []string{"chat", "reasoner"}, c.ServedModels(now))

	c.Member("a").Health.CoolDownUntil(now.Add(time.Minute))
	assert.Equal(t, []string{"chat"}, c.ServedModels(now), "reasoner's only endpoint cools down")
	assert.True(t, c.ForModel("chat").Available(now))
	assert.False(t, c.ForModel("reasoner").Available(now))
	assert.Equal(t, []string{"chat", "reasoner"}, c.ServedModels(now.Add(2*time.Minute)), "back after the cooldown")

	assert.True(t, c.ListsModels())

	empty := cluster.New("empty", "", nil, nil)
	assert.Empty(t, empty.ServedModels(now))
	assert.False(t, empty.Available(now))
	assert.False(t, empty.ListsModels())
	none := cluster.New("none", "", []*cluster.Member{member("any")}, nil)
	assert.Empty(t, none.ServedModels(now))
	assert.False(t, none.ListsModels())
}
