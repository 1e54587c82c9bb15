package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Why a model-routed request's body names no model.
var (
	errNoBody       = errors.New("the request has no body; a model-routed request is a JSON object with a \"model\"")
	errNotObject    = errors.New("the request body is not a JSON object")
	errNoModel      = errors.New("the request body names no \"model\"")
	errModelType    = errors.New("\"model\" is not a non-empty string")
	errTwoModels    = errors.New("the request body names \"model\" twice")
	errTruncatedDoc = errors.New("the request body ends inside the JSON object")
)

var modelName = []byte("model")

// requestModel returns the top-level "model" string of a JSON request body without decoding
// the rest: it walks the members of the top-level object (walkObject), so nested "model" keys
// (a JSON schema, tool arguments) are never taken for it. The whole top level is walked, so
// that a body naming "model" twice is refused: upstreams that keep the last one would otherwise
// be asked for a model the route did not choose. Values are not validated beyond what finding
// their end needs; the upstream does that.
func requestModel(body []byte) (string, error) {
	var model []byte
	err := walkObject(body, func(key []byte, start, end int) error {
		if !keyIs(key, modelName) {
			return nil
		}
		if model != nil {
			return errTwoModels
		}
		if body[start] != '"' {
			return errModelType
		}
		model = body[start:end]
		return nil
	})
	if err != nil {
		return "", err
	}
	if model == nil {
		return "", errNoModel
	}
	return unquote(model)
}

// walkObject calls visit with each member of the JSON object body, in order: its key as
// written (between the quotes, escapes kept) and the bounds of its value. Values are jumped
// over without decoding (strings with bytes.IndexByte). It stops at the first error, of visit
// or of the JSON.
func walkObject(body []byte, visit func(key []byte, start, end int) error) error {
	i := skipSpace(body, 0)
	if i == len(body) {
		return errNoBody
	}
	if body[i] != '{' {
		return errNotObject
	}
	if i = skipSpace(body, i+1); i < len(body) && body[i] == '}' {
		return nil
	}
	for {
		key, value, err := member(body, i)
		if err != nil {
			return err
		}
		end, err := skipValue(body, value)
		if err != nil {
			return err
		}
		if err := visit(key, value, end); err != nil {
			return err
		}
		if i = skipSpace(body, end); i == len(body) {
			return errTruncatedDoc
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return nil
		default:
			return syntaxError(i, "want ',' or '}' after a value")
		}
	}
}

// member reads the key of the object member at body[i] and its colon. It returns the key as
// written and the index of the member's value.
func member(body []byte, i int) (key []byte, value int, err error) {
	if i == len(body) {
		return nil, 0, errTruncatedDoc
	}
	if body[i] != '"' {
		return nil, 0, syntaxError(i, "want a quoted key")
	}
	end, err := stringEnd(body, i)
	if err != nil {
		return nil, 0, err
	}
	value = skipSpace(body, end)
	if value >= len(body) || body[value] != ':' {
		return nil, 0, syntaxError(value, "want ':' after a key")
	}
	value = skipSpace(body, value+1)
	if value >= len(body) {
		return nil, 0, errTruncatedDoc
	}
	return body[i+1 : end-1], value, nil
}

// keyIs reports whether a key as written (between its quotes) is name, also when escaped:
// "mod\u0065l" is "model" to a JSON parser.
func keyIs(key, name []byte) bool {
	if bytes.Equal(key, name) {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	var k string
	return json.Unmarshal(quoted, &k) == nil && k == string(name)
}

// skipValue returns the index just past the JSON value starting at body[i].
func skipValue(body []byte, i int) (int, error) {
	switch body[i] {
	case '"':
		return stringEnd(body, i)
	case '{', '[':
		return containerEnd(body, i)
	}
	// A number, true, false or null: up to the next delimiter.
	j := i
	for j < len(body) && !endsLiteral(body[j]) {
		j++
	}
	if j == i {
		return 0, syntaxError(i, "want a value")
	}
	return j, nil
}

// stringEnd returns the index just past the JSON string starting at body[i] (a quote).
func stringEnd(body []byte, i int) (int, error) {
	for j := i + 1; ; {
		q := bytes.IndexByte(body[j:], '"')
		if q < 0 {
			return 0, errTruncatedDoc
		}
		j += q
		// The quote ends the string unless an odd number of backslashes escapes it.
		n := 0
		for k := j - 1; k > i && body[k] == '\\'; k-- {
			n++
		}
		j++
		if n%2 == 0 {
			return j, nil
		}
	}
}

// containerEnd returns the index just past the object or array starting at body[i].
func containerEnd(body []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(body); j++ {
		switch body[j] {
		case '"':
			end, err := stringEnd(body, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errTruncatedDoc
}

// unquote returns the contents of a JSON string, unescaping only when it has to.
func unquote(v []byte) (string, error) {
	var s string
	if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		s = string(v[1 : len(v)-1])
	} else if json.Unmarshal(v, &s) != nil {
		return "", errModelType
	}
	if s == "" {
		return "", errModelType
	}
	return s, nil
}

func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(body []byte, i int) int {
	return len(body) - len(trimSpace(body[i:]))
}

func syntaxError(offset int, want string) error {
	return fmt.Errorf("the request body is not valid JSON at offset %d: %s", offset, want)
}
