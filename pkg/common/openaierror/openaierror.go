// Package openaierror writes errors in the shape OpenAI clients parse:
// {"error": {"message": ..., "type": ..., "code": ...}}.
package openaierror

import (
	"encoding/json"
	"net/http"
)

// Error types used by the gateway.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeServer         = "server_error"
)

// Body is the JSON error document.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the error object inside Body.
type Detail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// Write sends status with the error document. msg must never contain secrets.
func Write(w http.ResponseWriter, status int, typ, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Error: Detail{Message: msg, Type: typ, Code: code}})
}

// Event is the error as the last event of a server-sent event stream ("data: {...}\n\n"), which
// OpenAI's SDKs raise as an API error. msg must never contain secrets.
func Event(typ, code, msg string) []byte {
	body, _ := json.Marshal(Body{Error: Detail{Message: msg, Type: typ, Code: code}})
	out := make([]byte, 0, len(body)+8)
	out = append(out, "data: "...)
	out = append(out, body...)
	return append(out, '\n', '\n')
}
