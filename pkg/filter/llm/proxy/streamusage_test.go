package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithStreamUsageAsksForUsage(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no stream_options",
			`{"model":"m","stream":true}`,
			`{"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{"leading whitespace",
			" \n{ \"stream\" : true }",
			" \n{\"stream_options\":{\"include_usage\":true}, \"stream\" : true }"},
		{"include_usage false",
			`{"stream":true,"stream_options":{"include_usage":false},"model":"m"}`,
			`{"stream":true,"stream_options":{"include_usage":true},"model":"m"}`},
		{"include_usage already true",
			`{"stream":true,"stream_options":{"include_usage":true}}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`},
		{"other options kept",
			`{"stream_options":{"include_obfuscation":false},"stream":true}`,
			`{"stream_options":{"include_usage":true,"include_obfuscation":false},"stream":true}`},
		{"empty options",
			`{"stream":true,"stream_options":{ }}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`},
		{"null options",
			`{"stream":true,"stream_options":null}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`},
		{"escaped keys",
			`{"str\u0065am":true,"stream_\u006fptions":{"include_\u0075sage":false}}`,
			`{"str\u0065am":true,"stream_\u006fptions":{"include_\u0075sage":true}}`},
		{"nested stream keys are not the request's",
			`{"metadata":{"stream":true,"stream_options":{}},"stream":true}`,
			`{"stream_options":{"include_usage":true},"metadata":{"stream":true,"stream_options":{}},"stream":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withStreamUsage([]byte(tc.body))
			assert.Equal(t, tc.want, string(got))
			var req struct {
				Stream        bool `json:"stream"`
				StreamOptions struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			require.NoError(t, json.Unmarshal(got, &req), "the result is valid JSON")
			assert.True(t, req.StreamOptions.IncludeUsage)
		})
	}
}

func TestWithStreamUsageLeavesOtherBodiesAlone(t *testing.T) {
	for _, body := range []string{
		``,
		`{"model":"m"}`,
		`{"model":"m","stream":false}`,
		`{"model":"m","stream":"true"}`,
		`{"model":"m","stream":true,"stream_options":"usage"}`, // the upstream says what is wrong
		`{"model":"m","stream":true`,                           // cut off
		`[{"stream":true}]`,
		`model=m&stream=true`,
	} {
		assert.Equal(t, body, string(withStreamUsage([]byte(body))), "%q", body)
	}
}

func TestWithStreamUsageKeepsTheBodyItWasGiven(t *testing.T) {
	body := []byte(`{"stream":true,"stream_options":{"include_usage":false}}`)
	orig := string(body)
	_ = withStreamUsage(body)
	assert.Equal(t, orig, string(body), "the client's bytes are not written over")
}

func TestAsksForUsage(t *testing.T) {
	for path, want := range map[string]bool{
		"/v1/chat/completions":                        true,
		"/v1/completions":                             true,
		"/openai/deployments/gpt-4o/chat/completions": true,
		"/v1/responses":                               false,
		"/v1/embeddings":                              false,
		"/v1/models":                                  false,
	} {
		assert.Equal(t, want, asksForUsage(httptest.NewRequest(http.MethodPost, path, nil)), path)
	}
	assert.False(t, asksForUsage(httptest.NewRequest(http.MethodGet, "/v1/chat/completions", nil)))
}

// FuzzWithStreamUsage checks the splice against encoding/json: on a valid JSON object whose
// top-level stream is true and whose stream_options is absent, null or an object, the result
// decodes to the same members with stream_options.include_usage true and every other option
// kept; any other body comes back unchanged.
func FuzzWithStreamUsage(f *testing.F) {
	for _, seed := range []string{
		`{"stream":true}`, `{"stream":true,"stream_options":{"include_usage":false,"x":1}}`, `{"stream":true,"stream_options":null}`,
		`{"stream":false,"stream_options":{}}`, `{"a":{"stream":true},"stream":true,"stream":false}`, `{"str\u0065am":true}`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := withStreamUsage(body)
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) != nil {
			return
		}
		var stream bool
		var options map[string]json.RawMessage
		asked := json.Unmarshal(doc["stream"], &stream) == nil && stream &&
			(doc["stream_options"] == nil || json.Unmarshal(doc["stream_options"], &options) == nil)
		if !asked {
			if string(got) != string(body) {
				t.Fatalf("body %q changed to %q", body, got)
			}
			return
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatalf("body %q became invalid JSON %q: %v", body, got, err)
		}
		var outOptions map[string]json.RawMessage
		if err := json.Unmarshal(out["stream_options"], &outOptions); err != nil || string(outOptions["include_usage"]) != "true" {
			t.Fatalf("body %q: stream_options of %q do not ask for usage", body, got)
		}
		delete(outOptions, "include_usage")
		delete(options, "include_usage")
		if len(outOptions) != len(options) || len(out) != len(doc)+btoi(doc["stream_options"] == nil) {
			t.Fatalf("body %q: members changed in %q", body, got)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
