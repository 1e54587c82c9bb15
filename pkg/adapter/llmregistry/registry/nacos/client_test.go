package nacos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/vo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
)

func TestAgentEncodesParams(t *testing.T) {
	var got struct {
		sync.Mutex
		method, query, body, contentType string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.method, got.query, got.body, got.contentType = r.Method, r.URL.RawQuery, string(b), r.Header.Get("Content-Type")
		got.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	a := newHTTPAgent(context.Background())
	defer a.Close()

	resp, err := a.Get(srv.URL+"/x", http.Header{}, 1000, map[string]string{"serviceName": "g@@a b&c"})
	require.NoError(t, err)
	_ = resp.Body.Close()
	got.Lock()
	assert.Equal(t, http.MethodGet, got.method)
	assert.Equal(t, "serviceName=g%40%40a+b%26c", got.query, "values are escaped, unlike the SDK's own agent")
	got.Unlock()

	resp, err = a.Post(srv.URL+"/x", http.Header{}, 1000, map[string]string{"metadata": `{"k":"v"}`})
	require.NoError(t, err)
	_ = resp.Body.Close()
	got.Lock()
	assert.Equal(t, "metadata=%7B%22k%22%3A%22v%22%7D", got.body)
	assert.Contains(t, got.contentType, "application/x-www-form-urlencoded")
	got.Unlock()
}

// Pitfall 10 (first half): the configured timeout bounds every registry request.
func TestPitfall10TimeoutIsHonoured(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a registry that accepts and never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	reg, err := New(registry.Config{Protocol: Protocol, Address: strings.TrimPrefix(srv.URL, "http://"), Timeout: 200 * time.Millisecond},
		registry.Env{Name: "slow", Logger: quiet})
	require.NoError(t, err)
	r := reg.(*Registry)
	c, err := newSDKClient(context.Background(), "slow", r.cfg)
	require.NoError(t, err)
	defer c.Close()

	began := time.Now()
	_, err = c.GetAllServicesInfo(vo.GetAllServiceInfoParam{GroupName: "g", PageNo: 1, PageSize: 10})
	took := time.Since(began)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out after 200ms")
	// The SDK tries a single server three times.
	assert.Less(t, took, 3*time.Second, "bounded by the 200ms timeout, not by the server")
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	t.Logf("unanswered list call failed after %v (timeout 200ms, 3 SDK attempts)", took.Round(time.Millisecond))
}

func TestAgentErrorsHideTheQuery(t *testing.T) {
	a := newHTTPAgent(context.Background())
	defer a.Close()
	_, err := a.Get("http://127.0.0.1:1/nacos/v1/ns/instance/list", http.Header{}, 500, map[string]string{"accessToken": "tok-secret"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "tok-secret")
	assert.Contains(t, err.Error(), "/nacos/v1/ns/instance/list")
}

func TestAgentCloseCancelsAndRefuses(t *testing.T) {
	entered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	defer srv.Close()
	a := newHTTPAgent(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.Get(srv.URL, http.Header{}, 60_000, nil)
		errc <- err
	}()
	<-entered
	a.Close()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, errClosed, "the request in flight ends at Close")
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight outlived Close")
	}
	_, err := a.Get(srv.URL, http.Header{}, 1000, nil)
	assert.ErrorIs(t, err, errClosed)
}

// The SDK client reads instance lists straight from the server (never its cache), without
// asking for pushes, and keeps its cache in a private dir that Close removes.
func TestSDKClientQueriesTheServer(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"name":"g@@svc","hosts":[{"instanceId":"1","ip":"10.0.0.1","port":80,"weight":1,"healthy":true,"enabled":true,"metadata":{"cluster":"chat"}}]}`)
	}))
	defer srv.Close()
	reg, err := New(registry.Config{Protocol: Protocol, Address: strings.TrimPrefix(srv.URL, "http://"), Namespace: "public"},
		registry.Env{Name: "q", Logger: quiet})
	require.NoError(t, err)
	c, err := newSDKClient(context.Background(), "q", reg.(*Registry).cfg)
	require.NoError(t, err)
	dir := c.(*sdkClient).dir
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "the SDK cache holds API keys: private")
	wd, _ := os.Getwd()
	assert.False(t, strings.HasPrefix(dir, wd), "not in the working directory")

	hosts, err := c.QueryInstances("svc", "g")
	require.NoError(t, err)
	require.Len(t, hosts, 1)
	assert.Equal(t, "chat", hosts[0].Metadata["cluster"])
	mu.Lock()
	require.Len(t, queries, 1)
	assert.Contains(t, queries[0], "/nacos/v1/ns/instance/list?")
	assert.Contains(t, queries[0], "serviceName=g%40%40svc")
	assert.Contains(t, queries[0], "udpPort=0")
	assert.Contains(t, queries[0], "namespaceId=public")
	mu.Unlock()

	c.Close()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "Close removes the cache dir")
	_, err = c.QueryInstances("svc", "g")
	assert.Error(t, err, "a closed client makes no request")
}

// username/password: the SDK logs in and sends the token with every request; the password is
// sent only to the login API.
func TestSDKClientLogsIn(t *testing.T) {
	var mu sync.Mutex
	var logins, tokens int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/nacos/v1/auth/users/login" {
			_ = r.ParseForm()
			if r.PostForm.Get("username") == "gw" && r.PostForm.Get("password") == "s3cret-pw" {
				logins++
				_, _ = io.WriteString(w, `{"accessToken":"tok-123","tokenTtl":18000}`)
				return
			}
			w.WriteHeader(http.StatusForbidden)
			return
		}
		assert.NotContains(t, r.URL.RawQuery, "s3cret-pw")
		if r.URL.Query().Get("accessToken") == "tok-123" {
			tokens++
			_, _ = io.WriteString(w, `{"hosts":[]}`)
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	reg, err := New(registry.Config{Protocol: Protocol, Address: strings.TrimPrefix(srv.URL, "http://"), Username: "gw", Password: "s3cret-pw"},
		registry.Env{Name: "auth", Logger: quiet})
	require.NoError(t, err)
	c, err := newSDKClient(context.Background(), "auth", reg.(*Registry).cfg)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.QueryInstances("svc", "g")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, logins)
	assert.Equal(t, 1, tokens)
}

func TestSweepStaleRemovesDirsOfDeadProcesses(t *testing.T) {
	parent := t.TempDir()
	dead := filepath.Join(parent, "nacos-2147483646-123") // no such pid
	mine := filepath.Join(parent, "nacos-"+strconv.Itoa(os.Getpid())+"-456")
	other := filepath.Join(parent, "not-ours")
	for _, d := range []string{dead, mine, other} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	sweepStale(parent)
	_, err := os.Stat(dead)
	assert.True(t, os.IsNotExist(err), "a dead process's dir is removed")
	assert.DirExists(t, mine)
	assert.DirExists(t, other)
}
