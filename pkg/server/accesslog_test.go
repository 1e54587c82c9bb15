package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func TestAccessLogIsOffByDefault(t *testing.T) {
	a, err := newAccessLog(model.AccessLog{Format: "json"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Nil(t, a)
	a.write(&filter.Record{}) // a nil access log writes nothing and does not panic
}

func TestAccessLogRefusesUnknownFormats(t *testing.T) {
	_, err := newAccessLog(model.AccessLog{Enabled: true, Format: "xml"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, `"xml" is not json or text`)
}

func TestAccessLogJSONLine(t *testing.T) {
	var out bytes.Buffer
	a, err := newAccessLog(model.AccessLog{Enabled: true, Format: "JSON"}, &out)
	require.NoError(t, err)
	a.write(&filter.Record{
		Start: time.Now().Add(-1500 * time.Millisecond), RequestID: "req-1", Method: "POST", Path: "/v1/chat/completions",
		Route: "/v1", Consumer: "team-a", Cluster: "chat", Endpoint: "b", Tried: []string{"a", "b"},
		Attempts: 4, Status: 200, FirstByte: 250 * time.Millisecond, Model: "stub-model",
		Usage: filter.Usage{Prompt: 3, Completion: 5, Total: 8, Reported: true}, Cut: "stream_idle",
	})
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line), out.String())
	assert.Equal(t, "access", line["msg"])
	for k, want := range map[string]any{
		"consumer": "team-a", "route": "/v1", "cluster": "chat", "endpoint": "b", "tried": "a,b",
		"attempts": 4.0, "status": 200.0, "ttfb_ms": 250.0, "model": "stub-model", "cut": "stream_idle",
		"method": "POST", "path": "/v1/chat/completions", "request_id": "req-1",
	} {
		assert.Equal(t, want, line[k], k)
	}
	assert.Equal(t, map[string]any{"prompt": 3.0, "completion": 5.0, "total": 8.0}, line["tokens"])
	assert.GreaterOrEqual(t, line["duration_ms"], 1500.0)
	assert.NotEmpty(t, line["time"])
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "one line per request")
}

func TestAccessLogBoundsThePath(t *testing.T) {
	var out bytes.Buffer
	a, err := newAccessLog(model.AccessLog{Enabled: true, Format: "json"}, &out)
	require.NoError(t, err)
	a.write(&filter.Record{Start: time.Now(), Path: "/v1/" + strings.Repeat("x", 10_000)})
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line))
	assert.Len(t, line["path"], maxLoggedPath+len("…"))
}
