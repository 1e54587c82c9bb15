// Package llmstub is a scriptable fake OpenAI-style upstream for tests,
// benchmarks and demos. It serves POST /v1/chat/completions (unary and SSE
// streaming), GET /v1/models, and echoes any other path, on a loopback
// address only. Every request is recorded, and its outcome can be scripted:
// error statuses, dropped or reset connections, delays and stalled streams.
package llmstub

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Config describes a stub. Zero fields take the defaults noted.
type Config struct {
	// Name identifies the stub in replies ("Hello from <Name>") and error
	// messages, so tests can tell which upstream answered. Default "llmstub".
	Name string
	// Model is listed by GET /v1/models and reported in completions when the
	// request names no model. Default "stub-model".
	Model string
	// APIKey, if set, makes every request without "Authorization: Bearer
	// <APIKey>" fail with 401 and an OpenAI error body.
	APIKey string
	// StreamChunks is the number of content chunks in a streamed reply.
	// Default 3, which spells out exactly "Hello from <Name>".
	StreamChunks int
	// ChunkInterval is the pause between streamed chunks. Default none.
	ChunkInterval time.Duration
	// Default is the action used when the script queue is empty. Default OK().
	Default Action
	// DisableRecording stops Requests from keeping requests (Count still
	// counts), so long load tests do not grow memory.
	DisableRecording bool
}

// Option adjusts the Config used by New and Start.
type Option func(*Config)

// WithName sets Config.Name.
func WithName(name string) Option { return func(c *Config) { c.Name = name } }

// WithModel sets Config.Model.
func WithModel(model string) Option { return func(c *Config) { c.Model = model } }

// WithAPIKey sets Config.APIKey.
func WithAPIKey(key string) Option { return func(c *Config) { c.APIKey = key } }

// WithStream sets Config.StreamChunks and Config.ChunkInterval.
func WithStream(chunks int, interval time.Duration) Option {
	return func(c *Config) { c.StreamChunks, c.ChunkInterval = chunks, interval }
}

// WithDefault sets Config.Default.
func WithDefault(a Action) Option { return func(c *Config) { c.Default = a } }

// WithoutRecording sets Config.DisableRecording.
func WithoutRecording() Option { return func(c *Config) { c.DisableRecording = true } }

// Recorded is one request as the stub received it. Treat it as read-only:
// Header and Body are shared with the stub's own copy.
type Recorded struct {
	Method     string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       []byte
	ReceivedAt time.Time
}

// Stub is a running fake upstream. All methods are safe for concurrent use.
type Stub struct {
	cfg      Config
	listener net.Listener
	server   *http.Server
	replies  replies
	bearer   string // expected Authorization header, "" when no key is required

	count      atomic.Int64
	completion atomic.Int64 // sequence for completion ids

	mu            sync.Mutex
	recorded      []Recorded
	script        []Action
	defaultAction Action
	closing       bool

	handlers  sync.WaitGroup // running handlers; Close waits for them
	closed    chan struct{}  // closed by Close to end delays and stalls
	closeOnce sync.Once
}

// New starts a stub on a free 127.0.0.1 port. It panics if it cannot listen,
// like httptest.NewServer. Call Close when done, or use Start in tests.
func New(opts ...Option) *Stub {
	var cfg Config
	for _, opt := range opts {
		opt(&cfg)
	}
	s, err := NewServer("127.0.0.1:0", cfg)
	if err != nil {
		panic(fmt.Sprintf("llmstub: %v", err))
	}
	return s
}

// Start is New plus t.Cleanup(stub.Close).
func Start(t testing.TB, opts ...Option) *Stub {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a stub listening on addr, which must be a loopback
// address; an empty host or "localhost" means 127.0.0.1 and port 0 picks a
// free port (":0" is fine).
func NewServer(addr string, cfg Config) (*Stub, error) {
	addr, err := loopbackAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("llmstub: listen: %w", err)
	}

	if cfg.Name == "" {
		cfg.Name = "llmstub"
	}
	if cfg.Model == "" {
		cfg.Model = "stub-model"
	}
	if cfg.StreamChunks <= 0 {
		cfg.StreamChunks = 3
	}
	s := &Stub{
		cfg:           cfg,
		listener:      ln,
		replies:       newReplies(cfg.Name, cfg.Model),
		defaultAction: cfg.Default,
		closed:        make(chan struct{}),
	}
	if cfg.APIKey != "" {
		s.bearer = "Bearer " + cfg.APIKey
	}
	s.server = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("llmstub: address %q: %w", addr, err)
	}
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	default:
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("llmstub: address %q is not a loopback address", addr)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// URL is the stub's base URL, e.g. "http://127.0.0.1:41234" (no trailing slash).
func (s *Stub) URL() string { return "http://" + s.Addr() }

// Addr is the stub's host:port.
func (s *Stub) Addr() string { return s.listener.Addr().String() }

// Name is Config.Name (after defaults).
func (s *Stub) Name() string { return s.cfg.Name }

// Reply is the assistant content of a default unary reply: "Hello from <Name>".
func (s *Stub) Reply() string { return s.replies.content }

// Close stops the server, ends any delays or stalls in progress, drops open
// connections and waits for running handlers. It is idempotent.
func (s *Stub) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		close(s.closed)
		_ = s.server.Close()
		s.handlers.Wait()
	})
}

// Script queues one-shot actions; each request consumes the next one, and
// requests find the default action once the queue is empty.
func (s *Stub) Script(actions ...Action) {
	s.mu.Lock()
	s.script = append(s.script, actions...)
	s.mu.Unlock()
}

// SetDefault replaces the action used when the script queue is empty.
func (s *Stub) SetDefault(a Action) {
	s.mu.Lock()
	s.defaultAction = a
	s.mu.Unlock()
}

// Pending is the number of scripted actions not yet consumed.
func (s *Stub) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script)
}

// Requests returns the requests received so far, oldest first. It is empty
// when Config.DisableRecording is set.
func (s *Stub) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.recorded...)
}

// Last returns the most recent recorded request.
func (s *Stub) Last() (Recorded, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recorded) == 0 {
		return Recorded{}, false
	}
	return s.recorded[len(s.recorded)-1], true
}

// Count is the number of requests received, recorded or not.
func (s *Stub) Count() int { return int(s.count.Load()) }

// Reset forgets recorded requests and zeroes Count. The script is kept.
func (s *Stub) Reset() {
	s.mu.Lock()
	s.recorded = nil
	s.count.Store(0)
	s.mu.Unlock()
}

// begin counts and records a request, registers its handler and, if
// takeAction, picks its action. It reports false once Close has started, so
// handlers.Add never races handlers.Wait.
func (s *Stub) begin(rec *Recorded, takeAction bool) (Action, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return Action{}, false
	}
	s.handlers.Add(1)
	s.count.Add(1)
	if rec != nil {
		s.recorded = append(s.recorded, *rec)
	}
	if !takeAction || len(s.script) == 0 {
		return s.defaultAction, true
	}
	a := s.script[0]
	s.script[0] = Action{}
	s.script = s.script[1:]
	return a, true
}

func (s *Stub) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // client went away mid-body
	}
	var rec *Recorded
	if !s.cfg.DisableRecording {
		rec = &Recorded{
			Method:     r.Method,
			Path:       r.URL.Path,
			RawQuery:   r.URL.RawQuery,
			Header:     r.Header.Clone(),
			Body:       body,
			ReceivedAt: time.Now(),
		}
	}

	// An auth failure leaves the script untouched: it is a wiring problem,
	// not one of the scripted upstream behaviours.
	authorized := s.bearer == "" || r.Header.Get("Authorization") == s.bearer
	action, ok := s.begin(rec, authorized)
	if !ok {
		return
	}
	defer s.handlers.Done()
	if !authorized {
		s.writeError(w, http.StatusUnauthorized, "invalid_api_key", "llmstub "+s.cfg.Name+": missing or wrong API key")
		return
	}

	if action.delay != 0 && !s.wait(r.Context(), action.delay) {
		return
	}
	switch action.kind {
	case kindClose:
		hijackAndClose(w, false)
	case kindReset:
		hijackAndClose(w, true)
	case kindStatus:
		s.writeStatus(w, action)
	default:
		s.answer(w, r, body, action)
	}
}

func (s *Stub) answer(w http.ResponseWriter, r *http.Request, body []byte, action Action) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		s.chatCompletion(w, r, body, action)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, s.replies.models)
	default:
		writeJSON(w, http.StatusOK, s.replies.echo(r))
	}
}

// wait pauses for d (Forever: indefinitely) and reports whether the pause ran
// its course, i.e. the client is still there and the stub is not closing.
func (s *Stub) wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return true
	}
	var elapsed <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-elapsed:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func hijackAndClose(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("llmstub: hijack: %v", err)) // HTTP/1 server: cannot happen
	}
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Stub) writeStatus(w http.ResponseWriter, a Action) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.body != nil {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		return
	}
	msg := fmt.Sprintf("llmstub %s: scripted status %d", s.cfg.Name, a.status)
	s.writeError(w, a.status, "", msg)
}

func (s *Stub) writeError(w http.ResponseWriter, status int, code, message string) {
	errType, defaultCode := errorKind(status)
	if code == "" {
		code = defaultCode
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(message, errType, code))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
