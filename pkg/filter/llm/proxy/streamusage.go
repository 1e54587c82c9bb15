package proxy

import (
	"net/http"
	"strings"
)

// Streamed completions report token usage only when the request asks for it, with
// stream_options.include_usage: the provider then sends one more chunk, with empty choices and
// the usage, before [DONE]. A request marked with filter.UsageWanted (its consumer has a tokens
// limit) is made to ask, so that a stream cannot escape the limit; the client then receives
// that chunk too, which OpenAI's SDKs expect whenever they ask for usage themselves.

var (
	streamKey        = []byte("stream")
	streamOptionsKey = []byte("stream_options")
	includeUsageKey  = []byte("include_usage")
	includeUsage     = []byte(`"include_usage":true`)
)

// asksForUsage reports whether the request is of a kind whose streamed answer reports usage
// only when asked: OpenAI's chat completions and (legacy) completions. The Responses API
// reports usage in its final event anyway and refuses stream_options.include_usage.
func asksForUsage(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/completions")
}

// withStreamUsage returns body with stream_options.include_usage set to true when body is a
// JSON object with "stream": true; any other body comes back as it is, and so does one whose
// stream_options is neither an object nor null (the upstream refuses it with a clear error).
// Other members of stream_options are kept. The body is not re-encoded: the new member is
// spliced in, so key order, whitespace and every other byte stay as the client sent them.
func withStreamUsage(body []byte) []byte {
	var stream bool
	options := [2]int{-1, -1} // bounds of the value of stream_options
	err := walkObject(body, func(key []byte, start, end int) error {
		switch {
		case keyIs(key, streamKey):
			stream = string(body[start:end]) == "true"
		case keyIs(key, streamOptionsKey):
			options = [2]int{start, end}
		}
		return nil
	})
	if err != nil || !stream {
		return body
	}
	start, end := options[0], options[1]
	switch {
	case start < 0: // no stream_options: add it as the first member
		open := skipSpace(body, 0) + 1
		return splice(body, open, open, []byte(`"stream_options":{`), includeUsage, []byte("},"))
	case string(body[start:end]) == "null":
		return splice(body, start, end, []byte("{"), includeUsage, []byte("}"))
	case body[start] == '{':
		return splice(body, start, end, withIncludeUsage(body[start:end]))
	}
	return body
}

// withIncludeUsage returns the stream_options object with include_usage set to true.
func withIncludeUsage(options []byte) []byte {
	value := [2]int{-1, -1}
	empty := true
	_ = walkObject(options, func(key []byte, start, end int) error { // options was walked once already
		empty = false
		if keyIs(key, includeUsageKey) {
			value = [2]int{start, end}
		}
		return nil
	})
	switch {
	case value[0] >= 0:
		return splice(options, value[0], value[1], []byte("true"))
	case empty:
		return splice(options, 1, len(options)-1, includeUsage)
	}
	return splice(options, 1, 1, includeUsage, []byte(","))
}

// splice returns a new slice holding b with b[from:to] replaced by parts.
func splice(b []byte, from, to int, parts ...[]byte) []byte {
	n := len(b) - (to - from)
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, b[:from]...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return append(out, b[to:]...)
}
