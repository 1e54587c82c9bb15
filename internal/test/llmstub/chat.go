package llmstub

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// replies holds the parts of responses that depend only on the Config, encoded
// once so the unary hot path only splices in ids, timestamps and counts.
type replies struct {
	name          string
	content       string // "Hello from <name>"
	contentJSON   []byte
	contentTokens int
	model         string
	modelJSON     []byte
	models        []byte // GET /v1/models body
}

func newReplies(name, model string) replies {
	content := "Hello from " + name
	type modelEntry struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	models := mustJSON(struct {
		Object string       `json:"object"`
		Data   []modelEntry `json:"data"`
	}{"list", []modelEntry{{ID: model, Object: "model", OwnedBy: "llmstub"}}})
	return replies{
		name:          name,
		content:       content,
		contentJSON:   mustJSON(content),
		contentTokens: tokens(content),
		model:         model,
		modelJSON:     mustJSON(model),
		models:        models,
	}
}

// pieces splits a reply into n streamed content chunks. Up to three chunks
// spell exactly "Hello from <name>"; more chunks append " #4", " #5", ...
func (rp *replies) pieces(n int) []string {
	words := []string{"Hello", " from", " " + rp.name}
	if n <= len(words) {
		return append(words[:n-1:n-1], strings.Join(words[n-1:], ""))
	}
	for i := len(words) + 1; i <= n; i++ {
		words = append(words, " #"+strconv.Itoa(i))
	}
	return words
}

func (rp *replies) modelFor(requested string) []byte {
	if requested == "" || requested == rp.model {
		return rp.modelJSON
	}
	return mustJSON(requested)
}

func (rp *replies) echo(r *http.Request) []byte {
	return mustJSON(struct {
		Stub   string `json:"stub"`
		Method string `json:"method"`
		Path   string `json:"path"`
		Query  string `json:"query"`
	}{rp.name, r.Method, r.URL.Path, r.URL.RawQuery})
}

// tokens is the stub's notion of a token count: whitespace-separated words.
func tokens(s string) int { return len(strings.Fields(s)) }

// wordCount decodes a message content, either a string or an array of content
// parts, straight into its token count.
type wordCount int

func (wc *wordCount) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*wc = wordCount(tokens(s))
		return nil
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	*wc = 0
	for _, p := range parts {
		*wc += wordCount(tokens(p.Text))
	}
	return nil
}

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Content wordCount `json:"content"`
	} `json:"messages"`
}

func (req *chatRequest) promptTokens() int {
	n := 0
	for _, m := range req.Messages {
		n += int(m.Content)
	}
	return n
}

// completion is what varies between chat completion responses.
type completion struct {
	id           string
	created      int64
	modelJSON    []byte
	promptTokens int
}

func (s *Stub) chatCompletion(w http.ResponseWriter, r *http.Request, body []byte, action Action) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, http.StatusBadRequest, "", "llmstub "+s.cfg.Name+": invalid request body: "+err.Error())
		return
	}
	c := completion{
		id:           "chatcmpl-stub-" + strconv.FormatInt(s.completion.Add(1), 10),
		created:      time.Now().Unix(),
		modelJSON:    s.replies.modelFor(req.Model),
		promptTokens: req.promptTokens(),
	}
	if req.Stream {
		s.streamCompletion(w, r, c, req.StreamOptions.IncludeUsage, action)
		return
	}

	contentJSON, completionTokens := s.replies.contentJSON, s.replies.contentTokens
	if action.chunks > 0 {
		content := strings.Join(s.replies.pieces(action.chunks), "")
		contentJSON, completionTokens = mustJSON(content), tokens(content)
	}
	b := make([]byte, 0, 320+len(contentJSON))
	b = c.appendHead(b, "chat.completion")
	b = append(b, `[{"index":0,"message":{"role":"assistant","content":`...)
	b = append(b, contentJSON...)
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"stop"}],`...)
	b = c.appendUsage(b, completionTokens)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
}

// streamCompletion sends one chunk per content piece, a finishing chunk, the
// usage chunk if asked for, and [DONE], flushing each as it goes.
func (s *Stub) streamCompletion(w http.ResponseWriter, r *http.Request, c completion, includeUsage bool, action Action) {
	plan := s.planStream(action)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	out := &chunkWriter{w: w, flusher: http.NewResponseController(w), c: c, includeUsage: includeUsage}
	if out.flusher.Flush() != nil {
		return
	}
	completionTokens, ok := s.sendPieces(r.Context(), out, plan)
	if !ok {
		return
	}
	if !out.send(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, false, 0) {
		return
	}
	if includeUsage && !out.send("", true, completionTokens) {
		return
	}
	if _, err := w.Write([]byte("data: [DONE]\n\n")); err == nil {
		_ = out.flusher.Flush()
	}
}

// streamPlan is how one stream unfolds: its content pieces, the pause between two of them, and
// the piece before which it stalls (-1 for none) and for how long.
type streamPlan struct {
	pieces   []string
	interval time.Duration
	stallAt  int
	stallFor time.Duration
}

// planStream applies the action's overrides to the stub's configured stream shape.
func (s *Stub) planStream(action Action) streamPlan {
	chunks, interval := s.cfg.StreamChunks, s.cfg.ChunkInterval
	if action.chunks > 0 {
		chunks = action.chunks
	}
	if action.hasInterval {
		interval = action.interval
	}
	plan := streamPlan{pieces: s.replies.pieces(chunks), interval: max(interval, 0), stallAt: -1}
	if action.stall {
		plan.stallAt, plan.stallFor = min(action.stallAfter, len(plan.pieces)), action.stallFor
	}
	return plan
}

// sendPieces sends the content chunks of plan, pausing and stalling as it says, and returns the
// completion tokens sent; false when the client went away.
func (s *Stub) sendPieces(ctx context.Context, out *chunkWriter, plan streamPlan) (int, bool) {
	completionTokens := 0
	for i := 0; i <= len(plan.pieces); i++ {
		if i > 0 && !s.wait(ctx, plan.interval) {
			return 0, false
		}
		if i == plan.stallAt && !s.wait(ctx, plan.stallFor) {
			return 0, false
		}
		if i == len(plan.pieces) {
			break
		}
		delta := `{"content":` + string(mustJSON(plan.pieces[i])) + `}`
		if i == 0 {
			delta = `{"role":"assistant","content":` + string(mustJSON(plan.pieces[i])) + `}`
		}
		if !out.send(`{"index":0,"delta":`+delta+`,"logprobs":null,"finish_reason":null}`, false, 0) {
			return 0, false
		}
		completionTokens += tokens(plan.pieces[i])
	}
	return completionTokens, true
}

// chunkWriter writes chat.completion.chunk events, flushing each.
type chunkWriter struct {
	w            http.ResponseWriter
	flusher      *http.ResponseController
	c            completion
	includeUsage bool
	buf          []byte
}

// send writes one chunk with the given choices; with usage it carries the usage object, otherwise
// "usage":null when the client asked for usage. False when the client went away.
func (cw *chunkWriter) send(choices string, usage bool, completionTokens int) bool {
	buf := append(cw.buf[:0], "data: "...)
	buf = cw.c.appendHead(buf, "chat.completion.chunk")
	buf = append(buf, '[')
	buf = append(buf, choices...)
	buf = append(buf, ']')
	switch {
	case usage:
		buf = append(buf, ',')
		buf = cw.c.appendUsage(buf, completionTokens)
	case cw.includeUsage:
		buf = append(buf, `,"usage":null`...)
	}
	buf = append(buf, "}\n\n"...)
	cw.buf = buf
	if _, err := cw.w.Write(buf); err != nil {
		return false
	}
	return cw.flusher.Flush() == nil
}

// appendHead appends the fields every completion object starts with, up to
// and including `"choices":`.
func (c *completion) appendHead(b []byte, object string) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, c.id...)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"model":`...)
	b = append(b, c.modelJSON...)
	return append(b, `,"choices":`...)
}

func (c *completion) appendUsage(b []byte, completionTokens int) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.promptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(c.promptTokens+completionTokens), 10)
	return append(b, '}')
}

// errorKind picks OpenAI-like error "type" and "code" values for a status.
func errorKind(status int) (errType, code string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", ""
	default:
		return "invalid_request_error", ""
	}
}

// errorBody renders {"error":{"message","type","param","code"}}; an empty
// code becomes null, as OpenAI sends for server errors.
func errorBody(message, errType, code string) []byte {
	var codeField *string
	if code != "" {
		codeField = &code
	}
	type apiError struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	return mustJSON(struct {
		Error apiError `json:"error"`
	}{apiError{Message: message, Type: errType, Code: codeField}})
}

// mustJSON encodes values that cannot fail to encode (strings and plain structs).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("llmstub: " + err.Error())
	}
	return b
}
