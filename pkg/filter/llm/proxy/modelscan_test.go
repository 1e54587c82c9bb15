package proxy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestModel(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"model first", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, "gpt-4o"},
		{"model last", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"n":1,"model":"deepseek-chat"}`, "deepseek-chat"},
		{"nested model keys are not the model",
			`{"response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"model":{"type":"string"}}}}},` +
				`"tools":[{"function":{"name":"f","parameters":{"model":"nested"}}}],"model":"top"}`, "top"},
		{"model in a string is not the model", `{"messages":[{"content":"he said \"model\": \"fake\""}],"model":"real"}`, "real"},
		{"string ending in a backslash", `{"prompt":"C:\\","model":"x"}`, "x"},
		{"string with escaped backslash and quote", `{"prompt":"a\\\"b\\\\","model":"x"}`, "x"},
		{"whitespace everywhere", " \n{ \"temperature\" : 0.5 ,\t\"model\" :\r\n \"m\" } ", "m"},
		{"literals and numbers", `{"a":true,"b":false,"c":null,"d":-1.5e3,"e":[1,[2,{}]],"model":"m"}`, "m"},
		{"escaped key", `{"mod\u0065l":"m"}`, "m"},
		{"escaped value", `{"model":"meta-llama\/Llama-3.1-8B"}`, "meta-llama/Llama-3.1-8B"},
		{"slash in the name", `{"model":"meta-llama/Llama-3.1-8B-Instruct"}`, "meta-llama/Llama-3.1-8B-Instruct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := requestModel([]byte(tc.body))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRequestModelErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
		wantText   string
	}{
		{"no body", ``, errNoBody, ""},
		{"only whitespace", " \n", errNoBody, ""},
		{"array", `[{"model":"m"}]`, errNotObject, ""},
		{"form", `model=m`, errNotObject, ""},
		{"empty object", `{ }`, errNoModel, ""},
		{"no model", `{"messages":[]}`, errNoModel, ""},
		{"only a nested model", `{"metadata":{"model":"m"}}`, errNoModel, ""},
		{"model a number", `{"model":4}`, errModelType, ""},
		{"model null", `{"model":null}`, errModelType, ""},
		{"model empty", `{"model":""}`, errModelType, ""},
		{"model twice", `{"model":"cheap","messages":[],"model":"expensive"}`, errTwoModels, ""},
		{"model twice, once escaped", `{"model":"cheap","m\u006fdel":"expensive"}`, errTwoModels, ""},
		{"cut after the model", `{"model":"m"`, errTruncatedDoc, ""},
		{"cut inside a string", `{"model":"m`, errTruncatedDoc, ""},
		{"cut inside an array", `{"messages":[{"content":"x"}`, errTruncatedDoc, ""},
		{"cut after a colon", `{"model":`, errTruncatedDoc, ""},
		{"cut after a comma", `{"a":1,`, errTruncatedDoc, ""},
		{"unquoted key", `{model:"m"}`, nil, "offset 1: want a quoted key"},
		{"no colon", `{"model" "m"}`, nil, "offset 9: want ':'"},
		{"no comma", `{"a":1 "model":"m"}`, nil, "offset 7: want ',' or '}'"},
		{"no value", `{"a":,"model":"m"}`, nil, "offset 5: want a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := requestModel([]byte(tc.body))
			assert.Empty(t, got)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
				return
			}
			assert.ErrorContains(t, err, tc.wantText)
		})
	}
}

// FuzzRequestModel checks the scanner against encoding/json: it never panics, and on a valid
// JSON object it finds exactly the top-level "model" string a decoder finds.
func FuzzRequestModel(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m"}`, `{"messages":[{"content":"\"model\":\"x\""}],"model":"y"}`, `{"a":{"model":"n"}}`,
		`{"model":"a\"b"}`, `{"model":"\\"}`, `{"m\u006fdel":"z"}`, `[]`, `{`, `{"model":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := requestModel(body)
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) != nil {
			return // invalid JSON: any error, or a model the upstream will refuse
		}
		var want string
		wantErr := json.Unmarshal(doc["model"], &want) != nil || want == ""
		if err != nil {
			// A valid document is refused only for a missing, non-string or repeated model.
			if !wantErr && !errors.Is(err, errTwoModels) {
				t.Fatalf("valid body %q with model %q refused: %v", body, want, err)
			}
			return
		}
		if wantErr || got != want {
			t.Fatalf("body %q: scanner found %q, decoder %q", body, got, want)
		}
	})
}

// BenchmarkRequestModel measures finding the model of a request against decoding it with
// encoding/json: a small chat request, and a 1 MiB one (long conversation) with the model
// first or last.
func BenchmarkRequestModel(b *testing.B) {
	small := []byte(`{"model":"deepseek-chat","messages":[{"role":"system","content":"You are helpful."},` +
		`{"role":"user","content":"Say hi"}],"temperature":0.7,"stream":false}`)
	var msgs strings.Builder
	for msgs.Len() < 1<<20 {
		msgs.WriteString(`{"role":"user","content":"Tell me about \"models\" and JSON: {\"model\": \"x\"} ` +
			strings.Repeat("lorem ipsum dolor sit amet ", 20) + `"},`)
	}
	conversation := `"messages":[` + strings.TrimSuffix(msgs.String(), ",") + `]`
	first := []byte(`{"model":"deepseek-chat",` + conversation + `}`)
	last := []byte(`{` + conversation + `,"model":"deepseek-chat"}`)

	for _, bc := range []struct {
		name string
		body []byte
	}{{"small", small}, {"1MiB-model-first", first}, {"1MiB-model-last", last}} {
		b.Run(bc.name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if m, err := requestModel(bc.body); err != nil || m != "deepseek-chat" {
					b.Fatalf("%q, %v", m, err)
				}
			}
		})
		b.Run(bc.name+"/json.Unmarshal", func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				var req struct {
					Model string `json:"model"`
				}
				if err := json.Unmarshal(bc.body, &req); err != nil || req.Model != "deepseek-chat" {
					b.Fatalf("%q, %v", req.Model, err)
				}
			}
		})
	}
}
