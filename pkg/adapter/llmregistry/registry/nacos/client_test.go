package nacos

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

func client(t *testing.T, o ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(o)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// What the client sends: the 1.x API's paths and parameters, escaped, the namespace on every
// call, metadata always present on a registration.
func TestClientRequests(t *testing.T) {
	type call struct{ method, path, query, form string }
	var mu sync.Mutex
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, call{r.Method, r.URL.Path, r.URL.RawQuery, string(b)})
		mu.Unlock()
		switch r.URL.Path {
		case "/nacos/v1/ns/instance/list":
			_, _ = io.WriteString(w, `{"name":"g@@svc","hosts":[{"instanceId":"1","ip":"10.0.0.1","port":80,"weight":1,"healthy":true,"enabled":true,"metadata":{"cluster":"chat"}}]}`)
		case "/nacos/v1/ns/instance/beat":
			_, _ = io.WriteString(w, `{"clientBeatInterval":5000,"code":20404}`)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	c := client(t, ClientOptions{Address: srv.URL, Namespace: "public"})

	hosts, err := c.Instances(t.Context(), "g", "a b&c")
	require.NoError(t, err)
	require.Len(t, hosts, 1)
	assert.Equal(t, "chat", hosts[0].Metadata["cluster"])
	inst := Instance{IP: "10.0.0.1", Port: 80, Weight: 1, Enabled: true, Healthy: true, Ephemeral: true}
	require.NoError(t, c.Register(t.Context(), "g", "svc", inst))
	require.NoError(t, c.Deregister(t.Context(), "g", "svc", inst))
	reply, err := c.Beat(t.Context(), "g", "svc", inst, 5*time.Second)
	require.NoError(t, err)
	assert.True(t, reply.NotFound)
	assert.Equal(t, 5*time.Second, reply.Interval)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 4)
	assert.Equal(t, "GET", calls[0].method)
	assert.Contains(t, calls[0].query, "serviceName=g%40%40a+b%26c")
	assert.Contains(t, calls[0].query, "namespaceId=public")
	assert.Contains(t, calls[0].query, "healthyOnly=false")
	assert.Equal(t, "POST", calls[1].method)
	assert.Equal(t, "/nacos/v1/ns/instance", calls[1].path)
	assert.Contains(t, calls[1].form, "metadata=%7B%7D", "metadata is always sent")
	assert.Contains(t, calls[1].form, "serviceName=g%40%40svc")
	assert.Equal(t, "DELETE", calls[2].method)
	assert.Equal(t, "PUT", calls[3].method)
	assert.Equal(t, "/nacos/v1/ns/instance/beat", calls[3].path)
}

// The configured timeout bounds every registry request.
func TestConfiguredTimeoutBoundsEveryRegistryRequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a registry that accepts and never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := client(t, ClientOptions{Address: srv.URL, Timeout: 200 * time.Millisecond})
	began := time.Now()
	_, err := c.Services(t.Context(), "g", 1, 10)
	took := time.Since(began)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out after 200ms")
	assert.Less(t, took, time.Second, "bounded by the 200ms timeout, not by the server")
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
}

// Several servers: a dead one is skipped and the one that answered is tried first next time.
func TestClientFailsOverBetweenServers(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		_, _ = io.WriteString(w, `{"count":0,"doms":[]}`)
	}))
	defer srv.Close()
	c := client(t, ClientOptions{Address: "127.0.0.1:1," + srv.URL, Timeout: time.Second})
	for range 3 {
		_, err := c.Services(t.Context(), "g", 1, 10)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, hits)
	assert.Equal(t, int32(1), c.preferred.Load())
}

func TestClientErrorsHideTheQuery(t *testing.T) {
	c := client(t, ClientOptions{Address: "127.0.0.1:1", Username: "u", Password: "pw-secret", Timeout: 500 * time.Millisecond})
	c.token, c.tokenExpiry = "tok-secret", time.Now().Add(time.Hour)
	c.tokens.Store(&[]string{"tok-secret"})
	_, err := c.Instances(t.Context(), "g", "svc")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "tok-secret")
	assert.NotContains(t, err.Error(), "pw-secret")
	assert.Contains(t, err.Error(), "/v1/ns/instance/list")
}

func TestClientCloseCancelsAndRefuses(t *testing.T) {
	entered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{Address: srv.URL, Timeout: time.Minute})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Services(context.Background(), "g", 1, 10)
		errc <- err
	}()
	<-entered
	c.Close()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, errClosed, "the request in flight ends at Close")
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight outlived Close")
	}
	_, err = c.Services(context.Background(), "g", 1, 10)
	assert.ErrorIs(t, err, errClosed)
}

// authServer is a Nacos with auth on: the login API hands out short-lived tokens, every other
// call needs a valid one.
type authServer struct {
	*httptest.Server
	mu       sync.Mutex
	logins   int
	tokens   map[string]time.Time // token → expiry
	ttl      time.Duration
	leaked   []string
	revoke   bool
	password string
}

func newAuthServer(t *testing.T, ttl time.Duration) *authServer {
	a := &authServer{tokens: map[string]time.Time{}, ttl: ttl, password: "s3cret-pw"}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if strings.Contains(r.URL.RawQuery, a.password) {
		a.leaked = append(a.leaked, r.URL.Path)
	}
	if r.URL.Path == "/nacos/v1/auth/login" {
		_ = r.ParseForm()
		if r.PostForm.Get("username") != "gw" || r.PostForm.Get("password") != a.password {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, "unknown user!")
			return
		}
		a.logins++
		tok := "tok-" + strings.Repeat("x", a.logins)
		a.tokens[tok] = time.Now().Add(a.ttl)
		_, _ = io.WriteString(w, `{"accessToken":"`+tok+`","tokenTtl":`+strconv.Itoa(int(a.ttl/time.Second))+`,"globalAdmin":false}`)
		return
	}
	_ = r.ParseForm()
	tok := r.Form.Get("accessToken")
	if exp, ok := a.tokens[tok]; !ok || time.Now().After(exp) || a.revoke {
		a.revoke = false
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "token invalid: "+tok)
		return
	}
	_, _ = io.WriteString(w, `{"count":1,"doms":["svc"],"hosts":[]}`)
}

// username/password: the client logs in on first use, sends the token with every request,
// refreshes it before it expires (no goroutine: on the request path), logs in again when the
// server rejects it, and never sends the password anywhere but the login API nor lets it or the
// token reach an error or the log.
func TestClientLogsInAndRefreshesTheToken(t *testing.T) {
	a := newAuthServer(t, 2*time.Second)
	c := client(t, ClientOptions{Address: a.URL, Username: "gw", Password: "s3cret-pw", Timeout: time.Second})
	for range 3 {
		_, err := c.Services(t.Context(), "g", 1, 10)
		require.NoError(t, err)
	}
	a.mu.Lock()
	assert.Equal(t, 1, a.logins, "one login for many requests")
	a.mu.Unlock()

	time.Sleep(2 * time.Second) // past 90% of the lifetime
	_, err := c.Services(t.Context(), "g", 1, 10)
	require.NoError(t, err)
	a.mu.Lock()
	assert.Equal(t, 2, a.logins, "refreshed before it expired")
	a.revoke = true // the server forgets the token (e.g. restarted)
	a.mu.Unlock()
	_, err = c.Services(t.Context(), "g", 1, 10)
	require.NoError(t, err, "a rejected token is replaced once")
	a.mu.Lock()
	assert.Equal(t, 3, a.logins)
	assert.Empty(t, a.leaked, "the password only goes to the login API, in the body")
	a.mu.Unlock()

	bad := client(t, ClientOptions{Address: a.URL, Username: "gw", Password: "wrong-pw", Timeout: time.Second})
	_, err = bad.Services(t.Context(), "g", 1, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `log in to nacos as "gw"`)
	assert.Contains(t, err.Error(), "403")
	assert.NotContains(t, err.Error(), "wrong-pw")
}

// The gateway's watch with auth on: routed, and neither the password nor the token appears in
// its log, even with debug logging and a token the server rejects.
func TestWatchWithLoginLogsNoSecret(t *testing.T) {
	a := newAuthServer(t, time.Hour)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := New(registry.Config{Protocol: Protocol, Address: a.URL, Username: "gw", Password: "s3cret-pw", RefreshInterval: 100 * time.Millisecond},
		registry.Env{Name: "auth", Logger: logger})
	require.NoError(t, err)
	reg.Start(&sink{endpoints: map[string]*model.Endpoint{}})
	defer reg.Stop()
	require.Eventually(t, func() bool { return reg.Health().Reachable }, waitFor, tick)
	a.mu.Lock()
	a.revoke = true
	a.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	reg.Stop()
	logMu.Lock()
	defer logMu.Unlock()
	assert.NotContains(t, logs.String(), "s3cret-pw")
	assert.NotContains(t, logs.String(), "tok-x")
	assert.NotContains(t, reg.Health().LastError, "tok-x")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
