package llmstub

import (
	"net/http"
	"time"
)

// Forever, passed to Delay, StallAfter or Action.After, waits until the client
// goes away (or the stub is closed) instead of for a fixed time.
const Forever time.Duration = -1

type actionKind int

const (
	kindOK     actionKind = iota // normal success; the zero Action
	kindStatus                   // fixed status code and body
	kindClose                    // hijack and close without a response
	kindReset                    // hijack and close with RST
)

// Action is what the stub does with one request. The zero value is OK().
// Actions are immutable values; the With*/After methods return modified copies.
type Action struct {
	kind   actionKind
	status int
	header http.Header
	body   []byte

	delay time.Duration // before anything is written; Forever waits for the client to give up

	// Streaming overrides; zero values mean "use the stub's Config".
	chunks      int
	interval    time.Duration
	hasInterval bool

	stall      bool
	stallAfter int
	stallFor   time.Duration
}

// OK answers normally: a chat completion (unary or streamed), the model list
// or the path echo, depending on the request.
func OK() Action { return Action{} }

// Status answers with the given status code and an OpenAI-shaped error body
// ({"error":{"message","type","param","code"}}) unless WithBody replaces it.
func Status(code int) Action { return Action{kind: kindStatus, status: code} }

// CloseConn closes the connection without writing a response; the client
// sees EOF.
func CloseConn() Action { return Action{kind: kindClose} }

// Reset aborts the connection with a TCP RST (SO_LINGER 0 then close); the
// client sees "connection reset by peer".
func Reset() Action { return Action{kind: kindReset} }

// Delay waits d before answering normally. The wait ends early if the client
// cancels the request. Use Forever to hang until the client gives up.
func Delay(d time.Duration) Action { return OK().After(d) }

// Stream answers a streaming request with the given number of content chunks
// spaced by interval, overriding Config.StreamChunks and Config.ChunkInterval.
// A unary request gets the same content in one message.
func Stream(chunks int, interval time.Duration) Action {
	return Action{chunks: max(chunks, 1), interval: interval, hasInterval: true}
}

// StallAfter streams k content chunks, then goes silent for d (Forever: until
// the client goes away) before finishing the stream normally. Unary requests
// are answered normally.
func StallAfter(k int, d time.Duration) Action {
	return Action{stall: true, stallAfter: max(k, 0), stallFor: d}
}

// After returns a copy of a that first waits d (before any byte of the
// response is written), e.g. Status(504).After(time.Second).
func (a Action) After(d time.Duration) Action {
	a.delay = d
	return a
}

// WithHeader returns a copy of a that also sets response header key to value,
// e.g. Status(429).WithHeader("Retry-After", "1").
func (a Action) WithHeader(key, value string) Action {
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(key, value)
	a.header = h
	return a
}

// WithBody returns a copy of a whose Status response body is body instead of
// the default OpenAI error JSON.
func (a Action) WithBody(body string) Action {
	a.body = []byte(body)
	return a
}
