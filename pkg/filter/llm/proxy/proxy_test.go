package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/gatewayconfig"
	"github.com/pixiu-llm/gateway/internal/test/llmstub"
	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/proxy"
	"github.com/pixiu-llm/gateway/pkg/model"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// Domains that carry a base path, and static endpoints without llm_meta, work.
func TestEndpointAddressForms(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"))
	for _, tc := range []struct {
		name     string
		endpoint *model.Endpoint
		filter   map[string]any
	}{
		{"host:port", gatewayconfig.DomainEndpoint("e", stub.Addr(), nil), nil},
		{"host:port/v1", gatewayconfig.DomainEndpoint("e", stub.Addr()+"/v1", nil), nil},
		{"http://host:port/v1", gatewayconfig.DomainEndpoint("e", "http://"+stub.Addr()+"/v1", nil), map[string]any{"scheme": "https"}},
		{"http://host:port/v1/", gatewayconfig.DomainEndpoint("e", "http://"+stub.Addr()+"/v1/", &model.LLMMeta{Fallback: true}), map[string]any{"scheme": "https"}},
		{"address and port, no llm_meta", gatewayconfig.Endpoint("e", stub.Addr(), nil), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, gatewaySpec{filter: tc.filter, cluster: gatewayconfig.Cluster("chat", "RoundRobin", tc.endpoint)})
			c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0),
				option.WithHTTPClient(client(t)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := c.Chat.Completions.New(ctx, chatParams())
			require.NoError(t, err)
			assert.Equal(t, "Hello from up", res.Choices[0].Message.Content)
			rec, _ := stub.Last()
			assert.Equal(t, "/v1/chat/completions", rec.Path)
		})
	}
}

func TestPathQueryAndMethodPassThrough(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", stub.Addr()+"/v1", nil))})
	resp, err := client(t).Get(g.URL + "/v1/files/a%2Fb?purpose=batch&limit=2")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	rec, _ := stub.Last()
	assert.Equal(t, http.MethodGet, rec.Method)
	assert.Equal(t, "/v1/files/a/b", rec.Path)
	assert.Equal(t, "purpose=batch&limit=2", rec.RawQuery)
	assert.Empty(t, rec.Body)
}

func TestRequestBodyLimit(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"))
	g := startGateway(t, gatewaySpec{
		filter:  map[string]any{"scheme": "http", "maxRequestBodyBytes": 1024},
		cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", stub.Addr(), nil)),
	})
	hc := client(t)
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`

	r := post(t, hc, g.URL+"/v1/chat/completions", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	assert.Contains(t, r.body, `"type":"invalid_request_error"`)
	assert.Contains(t, r.body, "larger than 1024 bytes")

	// Without a Content-Length (chunked), the limit holds too.
	req, err := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", io.MultiReader(strings.NewReader(big)))
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, stub.Count())

	// At the limit it goes through, and the same bytes reach the upstream.
	exact := chatBody + strings.Repeat(" ", 1024-len(chatBody))
	r = post(t, hc, g.URL+"/v1/chat/completions", exact)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	rec, _ := stub.Last()
	assert.Equal(t, exact, string(rec.Body))
}

func TestBodyIsReplayedOnEveryAttempt(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"))
	stub.Script(llmstub.Status(502), llmstub.CloseConn())
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", stub.Addr(), countBased2))})
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
	require.Equal(t, http.StatusOK, r.status)
	reqs := stub.Requests()
	require.Len(t, reqs, 3)
	for _, rec := range reqs {
		assert.Equal(t, chatBody, string(rec.Body))
		assert.Equal(t, "application/json", rec.Header.Get("Content-Type"))
	}
}

func TestKeysRotate(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("e", stub.Addr(), &model.LLMMeta{APIKey: "k1", APIKeys: []string{"k2", "k3"}, RetryPolicy: gatewayconfig.CountBased(1)}))})
	hc := client(t)
	for i := 0; i < 6; i++ {
		require.Equal(t, http.StatusOK, post(t, hc, g.URL+"/v1/chat/completions", chatBody).status)
	}
	// A retry takes the next key too: a rate-limited key is not asked again at once.
	stub.Script(llmstub.Status(429))
	require.Equal(t, http.StatusOK, post(t, hc, g.URL+"/v1/chat/completions", chatBody).status)

	var got []string
	for _, rec := range stub.Requests() {
		got = append(got, rec.Header.Get("Authorization"))
	}
	assert.Equal(t, []string{
		"Bearer k1", "Bearer k2", "Bearer k3", "Bearer k1", "Bearer k2", "Bearer k3",
		"Bearer k1", "Bearer k2",
	}, got)
}

func TestClientAuthorizationPassesWithoutEndpointKey(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithName("up"), llmstub.WithAPIKey("client-own-key"))
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", stub.Addr(), &model.LLMMeta{Fallback: true}))})
	r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody, "Authorization", "Bearer client-own-key")
	assert.Equal(t, http.StatusOK, r.status, r.body)
}

func TestHeadersHopByHopStrippedAndHostRewritten(t *testing.T) {
	type seen struct {
		host   string
		header http.Header
	}
	got := make(chan seen, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{host: r.Host, header: r.Header.Clone()}
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Ratelimit-Remaining", "9")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(upstream.Close)
	upstreamHost := upstream.Listener.Addr().String()
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", upstreamHost, &model.LLMMeta{APIKey: "sk-endpoint"}))})

	// A raw request, so that the client library does not tidy the headers first.
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	body := `{"x":1}`
	_, err = fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway.example\r\n"+
		"Connection: keep-alive, X-Client-Hop\r\nX-Client-Hop: secret-hop\r\nKeep-Alive: timeout=9\r\n"+
		"Proxy-Authorization: Basic cHJveHk=\r\nProxy-Connection: keep-alive\r\nTe: trailers\r\n"+
		"Upgrade: websocket\r\nAuthorization: Bearer sk-client\r\nX-Request-Id: r-1\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	assert.Equal(t, `{"ok":true}`, string(respBody))

	up := <-got
	assert.Equal(t, upstreamHost, up.host, "Host is the upstream's")
	for _, h := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Upgrade"} {
		assert.Empty(t, up.header.Values(h), "%s reached the upstream", h)
	}
	assert.NotContains(t, up.header.Get("Connection"), "X-Client-Hop")
	assert.Equal(t, "Bearer sk-endpoint", up.header.Get("Authorization"))
	assert.Equal(t, "r-1", up.header.Get("X-Request-Id"))
	assert.Empty(t, up.header.Get("X-Forwarded-For"), "client addresses are not sent to the provider")

	assert.Empty(t, resp.Header.Values("X-Upstream-Hop"))
	assert.Empty(t, resp.Header.Values("Keep-Alive"))
	assert.Equal(t, "9", resp.Header.Get("X-Ratelimit-Remaining"))
}

func TestErrorsNameEndpointsNeverKeys(t *testing.T) {
	const keyA, keyB = "sk-secret-aaaa", "sk-secret-bbbb"
	hang := llmstub.Start(t, llmstub.WithName("hang"), llmstub.WithDefault(llmstub.Delay(llmstub.Forever)))
	for _, tc := range []struct {
		name     string
		second   *model.Endpoint
		status   int
		code     string
		messages []string
	}{
		{"unreachable", gatewayconfig.DomainEndpoint("ep-b", closedAddr(t), &model.LLMMeta{APIKey: keyB, Fallback: true, RetryPolicy: gatewayconfig.CountBased(1)}),
			http.StatusBadGateway, "upstream_unreachable", []string{"ep-a:", "ep-b:", "connection refused", "(2 attempts)"}},
		{"timeout", gatewayconfig.DomainEndpoint("ep-b", hang.Addr(), &model.LLMMeta{APIKey: keyB, Fallback: true}),
			http.StatusGatewayTimeout, "upstream_timeout", []string{"ep-a:", "ep-b:", "no response headers within 200ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, gatewaySpec{
				filter: map[string]any{"timeout": "200ms", "scheme": "http"},
				cluster: gatewayconfig.Cluster("chat", "RoundRobin",
					gatewayconfig.DomainEndpoint("ep-a", closedAddr(t), &model.LLMMeta{APIKey: keyA, Fallback: true}), tc.second),
			})
			r := post(t, client(t), g.URL+"/v1/chat/completions", chatBody)
			assert.Equal(t, tc.status, r.status)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Contains(t, r.body, `"code":"`+tc.code+`"`)
			assert.Contains(t, r.body, `"type":"server_error"`)
			assert.Contains(t, r.body, `cluster \"chat\"`)
			for _, m := range tc.messages {
				assert.Contains(t, r.body, m)
			}
			logs := g.logs.String()
			assert.Contains(t, logs, "upstream attempt failed")
			for _, secret := range []string{keyA, keyB} {
				assert.NotContains(t, r.body, secret)
				assert.NotContains(t, logs, secret)
			}
			assert.NotContains(t, r.body, "http://", "no upstream URLs")
		})
	}
}

type clusterSource map[string]*cluster.Cluster

func (c clusterSource) Cluster(name string) *cluster.Cluster { return c[name] }

func TestMissingOrEmptyCluster(t *testing.T) {
	p, err := proxy.New(proxy.Config{}, filter.Env{Clusters: clusterSource{"empty": cluster.New("empty", "", nil, nil)}})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	for _, tc := range []struct {
		route  model.RouteAction
		status int
		msg    string
	}{
		{model.RouteAction{Cluster: "nope", ClusterNotFoundResponseCode: 503}, 503, `cluster \"nope\" not found`},
		{model.RouteAction{Cluster: "nope", ClusterNotFoundResponseCode: 404}, 404, `cluster \"nope\" not found`},
		{model.RouteAction{Cluster: "nope"}, 503, `cluster \"nope\" not found`},
		{model.RouteAction{Cluster: "empty", ClusterNotFoundResponseCode: 503}, 503, `cluster \"empty\" has no endpoints`},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		req = req.WithContext(filter.WithRoute(req.Context(), &tc.route))
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		assert.Equal(t, tc.status, rec.Code)
		assert.Contains(t, rec.Body.String(), tc.msg)
		assert.Contains(t, rec.Body.String(), `"error":{`)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
		want  string
	}{
		{"scheme", "ftp", `scheme: "ftp" is not http or https`},
		{"timeout", "-1s", "timeout: negative duration"},
		{"maxRequestBodyBytes", -1, "maxRequestBodyBytes: negative value"},
		{"maxAttempts", -1, "maxAttempts: negative value"},
		{"streamIdleTimeout", "-1s", "streamIdleTimeout: negative duration"},
		{"timeout", "soon", "soon"},
	} {
		t.Run(fmt.Sprintf("%s: %v", tc.key, tc.value), func(t *testing.T) {
			yaml := gatewayconfig.OneRoute{Prefix: "/", Filters: []*model.HTTPFilter{gatewayconfig.Proxy(map[string]any{tc.key: tc.value})},
				Clusters: []*model.ClusterConfig{gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", "127.0.0.1:1", nil))}}.YAML()
			doc, err := config.Load("test.yaml", []byte(yaml))
			require.NoError(t, err)
			_, err = server.New(doc, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "http_filters[0]")
		})
	}
}

// Requests read endpoints while they are replaced; the race detector watches.
func TestConcurrentRequestsAndEndpointUpdates(t *testing.T) {
	a := llmstub.Start(t, llmstub.WithName("a"), llmstub.WithoutRecording())
	b := llmstub.Start(t, llmstub.WithName("b"), llmstub.WithoutRecording())
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin",
		gatewayconfig.DomainEndpoint("a", a.Addr(), &model.LLMMeta{APIKeys: []string{"k1", "k2"}, Fallback: true}))})

	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			addr := a.Addr()
			if i%2 == 1 {
				addr = b.Addr()
			}
			ep := &model.Endpoint{ID: "b", Address: model.SocketAddress{Domains: []string{addr}},
				LLMMeta: &model.LLMMeta{Fallback: true, APIKey: fmt.Sprintf("k%d", i), HealthCheckInterval: int64(i % 3),
					RetryPolicy: model.RetryPolicy{Name: "CountBased", Config: map[string]any{"times": i % 3}}}}
			if err := g.Clusters.SetEndpoint("chat", ep); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	hc := client(t)
	var clients sync.WaitGroup
	for w := 0; w < 6; w++ {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := 0; i < 40; i++ {
				req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(chatBody))
				resp, err := hc.Do(req)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		}()
	}
	clients.Wait()
	close(stop)
	writer.Wait()
	assert.Equal(t, 240, a.Count()+b.Count())
}

func TestShutdownClosesUpstreamConnections(t *testing.T) {
	var mu sync.Mutex
	states := map[net.Conn]http.ConnState{}
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{}`)
	}))
	upstream.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		states[c] = s
		mu.Unlock()
	}
	upstream.Start()
	t.Cleanup(upstream.Close)
	g := startGateway(t, gatewaySpec{cluster: gatewayconfig.Cluster("chat", "RoundRobin", gatewayconfig.DomainEndpoint("e", upstream.Listener.Addr().String(), nil))})
	require.Equal(t, http.StatusOK, post(t, client(t), g.URL+"/v1/chat/completions", chatBody).status)

	idle := func(want http.ConnState) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range states {
				if s != want {
					return false
				}
			}
			return len(states) == 1
		}
	}
	eventually(t, 5*time.Second, idle(http.StateIdle), "the upstream connection is kept for reuse")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))
	eventually(t, 5*time.Second, idle(http.StateClosed), "the filter's Stop closes it")
}

// A Retry-After that would outlast the request's context is not waited for: the client gets
// the upstream's answer at once.
func TestRetryAfterPastTheRequestDeadlineIsNotAwaited(t *testing.T) {
	stub := llmstub.Start(t, llmstub.WithDefault(llmstub.Status(429).WithHeader("Retry-After", "5")))
	ep := &model.Endpoint{ID: "slow-down", Address: model.SocketAddress{Domains: []string{stub.Addr()}},
		LLMMeta: &model.LLMMeta{RetryPolicy: model.RetryPolicy{Name: "CountBased", Config: map[string]any{"times": 3, "maxInterval": "10s"}}}}
	member, err := cluster.NewMember(ep, cluster.SourceStatic, new(cluster.Health))
	require.NoError(t, err)
	c := cluster.New("chat", "", []*cluster.Member{member}, nil)
	p, err := proxy.New(proxy.Config{Scheme: "http"}, filter.Env{Clusters: clusterSource{"chat": c}})
	require.NoError(t, err)
	t.Cleanup(p.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
	req = req.WithContext(filter.WithRoute(req.Context(), &model.RouteAction{Cluster: "chat"}))
	rec := httptest.NewRecorder()
	start := time.Now()
	p.ServeHTTP(rec, req)

	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("X-Pixiu-Attempts"))
	assert.Equal(t, 1, stub.Count())
}
