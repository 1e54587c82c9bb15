package dataplane

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/bench/load"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
)

func TestRequestsAgainstTheStub(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithStream(4, 0))
	client := NewClient(4)
	url := stub.URL() + "/v1/chat/completions"

	rec := &load.Recorder{}
	require.NoError(t, Unary(client, url, nil)(context.Background(), rec))

	res, err := load.OpenLoop{Rate: 100, Duration: 50 * time.Millisecond, Workers: 1}.Run(context.Background(), Stream(client, url, nil))
	require.NoError(t, err)
	require.Equal(t, 5, res.OK, res.FirstError)
	// 4 content chunks and the finishing chunk: 5 chunk events, 4 gaps per stream; [DONE] is
	// not a chunk.
	assert.Equal(t, 5, res.FirstByte.Count())
	assert.Equal(t, 20, res.Gap.Count())

	err = Unary(client, stub.URL()+"/no/such/path", nil)(context.Background(), rec)
	assert.NoError(t, err, "the stub echoes unknown paths with 200")
	stub.Script(llmstub.Status(503))
	assert.ErrorContains(t, Unary(client, url, nil)(context.Background(), rec), "status 503")
	stub.Script(llmstub.Status(500))
	assert.ErrorContains(t, Stream(client, url, nil)(context.Background(), rec), "status 500")
}

func TestRunMergesRoundsPerTarget(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithoutRecording())
	targets := []Target{
		{Name: TargetDirect, URL: stub.URL() + "/v1/chat/completions"},
		{Name: "again", URL: stub.URL() + "/v1/chat/completions"},
	}
	scenarios := []Scenario{
		{Name: "unary", Kind: KindUnary, Rate: 200, Duration: 100 * time.Millisecond},
		{Name: "saturation", Kind: KindSaturation, Concurrency: 2, Duration: 100 * time.Millisecond, MaxRequests: 40},
	}
	var lines int
	ms, err := Run(context.Background(), scenarios, targets, func(string, ...any) { lines++ })
	require.NoError(t, err)
	require.Len(t, ms, 4)
	assert.Equal(t, 4, lines)
	for _, m := range ms[:2] {
		assert.Equal(t, "unary", m.Scenario.Name)
		assert.Equal(t, 20, m.Result.Planned, "two rounds of 50 ms at 200 req/s")
		assert.Equal(t, 20, m.Result.OK, m.Result.FirstError)
		assert.Zero(t, m.CPU, "no process to charge")
		assert.Zero(t, m.CPUPerRequest())
	}
	assert.Equal(t, TargetDirect, ms[0].Target)
	assert.Equal(t, "again", ms[1].Target)
	for _, m := range ms[2:] {
		assert.Positive(t, m.Result.OK)
		assert.LessOrEqual(t, m.Result.OK, 40, "two rounds of at most 20 requests")
	}
}
