package nacos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client is a small client of the Nacos 1.x HTTP open API (naming and login): the one way this
// module talks to a Nacos-protocol registry over HTTP, used by the gateway's watch, by
// `pixiu llm register` (through llmprovider.Registrar), and by the tests, the benchmark and the
// demo.
//
// It exists instead of nacos-sdk-go's NamingClient, which starts a UDP push receiver on every
// interface that answers {"type":"dump"} with its whole cache (instance metadata, API keys
// included) to any sender. The Client opens no listening socket and starts no goroutine: the
// login token is refreshed on the request path shortly before it expires, and Close ends every
// request in flight. Errors name the method, the server and the API path, never the query
// string or form (which carry the access token), and never the password.
type Client struct {
	servers   []Server
	address   string
	namespace string
	username  string
	password  string
	timeout   time.Duration

	ctx       context.Context
	cancel    context.CancelFunc
	transport *http.Transport
	http      *http.Client
	// preferred is the index of the server tried first: the last one that answered.
	preferred atomic.Int32

	tokenMu     sync.Mutex
	token       string
	tokenExpiry time.Time
	// tokens are the tokens handed out so far (the current one last), for scrub, which must not
	// take tokenMu (it runs inside a login).
	tokens atomic.Pointer[[]string]
}

// ClientOptions say how to reach a registry.
type ClientOptions struct {
	// Address is one or more servers, comma separated: host, host:port or
	// http(s)://host:port[/context-path] (port 8848 and /nacos by default).
	Address string
	// Namespace is the namespace id; empty means the default namespace.
	Namespace string
	// Username and Password log in when Username is set (Nacos auth); without a username the
	// password is not used.
	Username, Password string
	// Timeout bounds every request (default 5 s).
	Timeout time.Duration
}

// DefaultTimeout bounds a request when ClientOptions.Timeout is not set.
const DefaultTimeout = 5 * time.Second

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// errClosed is what every request made after Close fails with.
var errClosed = errors.New("nacos client closed")

// NewClient checks the options and returns a client. It contacts no server.
func NewClient(o ClientOptions) (*Client, error) {
	servers, err := ParseAddresses(o.Address)
	if err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < time.Millisecond {
		return nil, fmt.Errorf("timeout %v is below 1ms", o.Timeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: min(o.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Client{
		servers: servers, address: strings.TrimSpace(o.Address), namespace: strings.TrimSpace(o.Namespace),
		username: o.Username, password: o.Password, timeout: o.Timeout,
		ctx: ctx, cancel: cancel, transport: transport, http: &http.Client{Transport: transport},
	}, nil
}

// Address is the address list the client was built with.
func (c *Client) Address() string { return c.address }

// Close ends the requests in flight, closes idle connections and fails every later request.
func (c *Client) Close() {
	c.cancel()
	c.transport.CloseIdleConnections()
}

// Instance is a registered instance as the Nacos 1.x API describes it.
type Instance struct {
	InstanceID  string            `json:"instanceId,omitempty"`
	IP          string            `json:"ip"`
	Port        uint64            `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName,omitempty"`
	ServiceName string            `json:"serviceName,omitempty"`
	Metadata    map[string]string `json:"metadata"`
}

// ServiceList is one page of a group's service names.
type ServiceList struct {
	// Count is what the server says the total is (Polaris counts the whole namespace).
	Count int      `json:"count"`
	Doms  []string `json:"doms"`
}

// Services reads one page (from 1) of the service names of group.
func (c *Client) Services(ctx context.Context, group string, pageNo, pageSize int) (ServiceList, error) {
	q := url.Values{"pageNo": {strconv.Itoa(pageNo)}, "pageSize": {strconv.Itoa(pageSize)}, "groupName": {group}}
	body, err := c.do(ctx, http.MethodGet, "/v1/ns/service/list", q)
	if err != nil {
		return ServiceList{}, err
	}
	var list ServiceList
	if err := json.Unmarshal(body, &list); err != nil {
		return ServiceList{}, &StatusError{Method: http.MethodGet, Path: "/v1/ns/service/list", Status: http.StatusOK,
			Body: snippet(body), Err: fmt.Errorf("decode service list: %w", err)}
	}
	return list, nil
}

// Instances reads the complete instance list of service in group, every instance whatever its
// health, straight from the server.
func (c *Client) Instances(ctx context.Context, group, service string) ([]Instance, error) {
	q := url.Values{"serviceName": {groupedName(group, service)}, "healthyOnly": {"false"}}
	body, err := c.do(ctx, http.MethodGet, "/v1/ns/instance/list", q)
	if err != nil {
		return nil, err
	}
	var list struct {
		Hosts []Instance `json:"hosts"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode instance list of %q: %w", service, err)
	}
	return list.Hosts, nil
}

// Register registers inst in service of group. Ephemeral instances must then be kept alive
// with Beat.
func (c *Client) Register(ctx context.Context, group, service string, inst Instance) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/ns/instance", instanceForm(group, service, inst))
	return err
}

// Update changes a registered instance (weight, metadata, enabled) in place.
func (c *Client) Update(ctx context.Context, group, service string, inst Instance) error {
	_, err := c.do(ctx, http.MethodPut, "/v1/ns/instance", instanceForm(group, service, inst))
	return err
}

// Deregister removes the instance ip:port from service of group.
func (c *Client) Deregister(ctx context.Context, group, service string, inst Instance) error {
	q := url.Values{
		"serviceName": {groupedName(group, service)}, "groupName": {group}, "ip": {inst.IP},
		"port": {strconv.FormatUint(inst.Port, 10)}, "ephemeral": {strconv.FormatBool(inst.Ephemeral)},
		"clusterName": {clusterOf(inst)},
	}
	_, err := c.do(ctx, http.MethodDelete, "/v1/ns/instance", q)
	return err
}

// BeatReply is the server's answer to a heartbeat.
type BeatReply struct {
	// Interval is the heartbeat interval the server asks for (0 if it says nothing).
	Interval time.Duration
	// NotFound is set when the server does not know the instance (it lost it, e.g. in a
	// restart): the caller should register it again.
	NotFound bool
}

// codeNotFound is the "resource not found" code of a Nacos beat reply.
const codeNotFound = 20404

// Beat sends one heartbeat for an ephemeral instance. The beat carries the whole instance, so a
// server that lost it can register it again from the beat (Nacos does).
func (c *Client) Beat(ctx context.Context, group, service string, inst Instance, period time.Duration) (BeatReply, error) {
	beat, err := json.Marshal(map[string]any{
		"serviceName": groupedName(group, service), "ip": inst.IP, "port": inst.Port, "weight": inst.Weight,
		"metadata": nonNil(inst.Metadata), "cluster": clusterOf(inst), "scheduled": false, "period": period.Milliseconds(),
	})
	if err != nil {
		return BeatReply{}, err
	}
	q := url.Values{"serviceName": {groupedName(group, service)}, "groupName": {group}, "beat": {string(beat)}}
	body, err := c.do(ctx, http.MethodPut, "/v1/ns/instance/beat", q)
	if err != nil {
		// A server that lost the whole service (Polaris after a restart without its data) answers
		// an error saying so.
		var se *StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || strings.Contains(strings.ToLower(se.Body), "not found")) {
			return BeatReply{NotFound: true}, nil
		}
		return BeatReply{}, err
	}
	var reply struct {
		ClientBeatInterval int64 `json:"clientBeatInterval"`
		Code               int   `json:"code"`
	}
	if json.Unmarshal(body, &reply) != nil {
		return BeatReply{}, nil // an "ok" of an older server
	}
	return BeatReply{Interval: time.Duration(reply.ClientBeatInterval) * time.Millisecond, NotFound: reply.Code == codeNotFound}, nil
}

// StatusError is a request the server answered with an error status (or an answer that could
// not be read).
type StatusError struct {
	Method, Server, Path string
	Status               int
	// Body is the start of the server's answer, cleared of the client's secrets.
	Body string
	Err  error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s%s: HTTP %d", e.Method, e.Server, e.Path, e.Status)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// do sends one API request, trying each server once at most, the last one that answered first.
// A transport error or a 5xx answer moves on to the next server; a 403 with a login set logs in
// again once.
func (c *Client) do(ctx context.Context, method, path string, params url.Values) ([]byte, error) {
	if c.ctx.Err() != nil {
		return nil, errClosed
	}
	first := int(c.preferred.Load())
	var errs []error
	for i := range c.servers {
		idx := (first + i) % len(c.servers)
		srv := c.servers[idx]
		body, err := c.doOn(ctx, srv, method, path, params)
		if err == nil {
			c.preferred.Store(int32(idx))
			return body, nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusForbidden && c.username != "" {
			c.dropToken()
			body, err = c.doOn(ctx, srv, method, path, params)
			if err == nil {
				c.preferred.Store(int32(idx))
				return body, nil
			}
		}
		if ctx.Err() != nil || c.ctx.Err() != nil {
			return nil, c.canceled(ctx, err)
		}
		errs = append(errs, err)
		if errors.As(err, &se) && se.Status < 500 {
			break // the server understood and refused: another one would too
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

func (c *Client) canceled(ctx context.Context, err error) error {
	if c.ctx.Err() != nil {
		return errClosed
	}
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

// doOn sends one request to one server.
func (c *Client) doOn(ctx context.Context, srv Server, method, path string, params url.Values) ([]byte, error) {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if c.namespace != "" {
		form.Set("namespaceId", c.namespace)
	}
	if c.username != "" {
		token, err := c.accessToken(ctx, srv)
		if err != nil {
			return nil, err
		}
		form.Set("accessToken", token)
	}
	target, body := srv.base()+path, io.Reader(nil)
	switch method {
	case http.MethodGet, http.MethodDelete:
		target += "?" + form.Encode()
	default:
		body = strings.NewReader(form.Encode())
	}
	return c.send(ctx, srv, method, path, target, body)
}

// send makes one HTTP request bounded by the client's timeout and reads the answer.
func (c *Client) send(ctx context.Context, srv Server, method, path, target string, body io.Reader) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, srv.base(), path, redactErr(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	}
	req.Header.Set("User-Agent", "pixiu-gateway")
	resp, err := c.http.Do(req)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, errClosed
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", c.timeout)
		}
		return nil, fmt.Errorf("%s %s%s: %w", method, srv.base(), path, redactErr(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, errClosed
		}
		return nil, fmt.Errorf("%s %s%s: read answer: %w", method, srv.base(), path, redactErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Method: method, Server: srv.base(), Path: path, Status: resp.StatusCode, Body: c.scrub(snippet(data))}
	}
	return data, nil
}

// accessToken returns a valid token, logging in when there is none or it is about to expire.
// Requests wait for one login at a time; nothing runs in the background.
func (c *Client) accessToken(ctx context.Context, srv Server) (string, error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token != "" && time.Now().Before(c.tokenExpiry) {
		return c.token, nil
	}
	token, ttl, err := c.login(ctx, srv)
	if err != nil {
		return "", err
	}
	// Refresh a tenth of the lifetime early (and at least every minute for short ones).
	refresh := ttl - ttl/10
	if ttl <= 0 {
		refresh = 5 * time.Second
	}
	c.token, c.tokenExpiry = token, time.Now().Add(refresh)
	var seen []string
	if old := c.tokens.Load(); old != nil {
		seen = append(seen, (*old)[max(0, len(*old)-7):]...)
	}
	seen = append(seen, token)
	c.tokens.Store(&seen)
	return token, nil
}

func (c *Client) dropToken() {
	c.tokenMu.Lock()
	c.token = ""
	c.tokenMu.Unlock()
}

// Token returns an access token for requests this client does not make itself (the gRPC
// transport's): the current one, or a fresh login at the servers in turn when there is none or
// it is about to expire. Without a username it is "".
func (c *Client) Token(ctx context.Context) (string, error) {
	if c.username == "" {
		return "", nil
	}
	if c.ctx.Err() != nil {
		return "", errClosed
	}
	first := int(c.preferred.Load())
	var errs []error
	for i := range c.servers {
		idx := (first + i) % len(c.servers)
		token, err := c.accessToken(ctx, c.servers[idx])
		if err == nil {
			c.preferred.Store(int32(idx))
			return token, nil
		}
		if ctx.Err() != nil || c.ctx.Err() != nil {
			return "", c.canceled(ctx, err)
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// Refused tells the client a server refused token: if it is still the current one, the next
// Token logs in again.
func (c *Client) Refused(token string) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// login posts the username and password to the server's login API and returns the token and
// its lifetime. Newer servers serve /v1/auth/login, older ones /v1/auth/users/login only.
func (c *Client) login(ctx context.Context, srv Server) (string, time.Duration, error) {
	form := url.Values{"username": {c.username}, "password": {c.password}}.Encode()
	var data []byte
	var err error
	for _, path := range []string{"/v1/auth/login", "/v1/auth/users/login"} {
		data, err = c.send(ctx, srv, http.MethodPost, path, srv.base()+path, strings.NewReader(form))
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			continue
		}
		break
	}
	if err != nil {
		return "", 0, fmt.Errorf("log in to nacos as %q: %w", c.username, err)
	}
	var reply struct {
		AccessToken string `json:"accessToken"`
		TokenTTL    int64  `json:"tokenTtl"`
	}
	if err := json.Unmarshal(data, &reply); err != nil || reply.AccessToken == "" {
		return "", 0, fmt.Errorf("log in to nacos as %q at %s: the answer has no access token", c.username, srv.base())
	}
	return reply.AccessToken, time.Duration(reply.TokenTTL) * time.Second, nil
}

// scrub removes the client's secrets from a text that came back from the server.
func (c *Client) scrub(s string) string {
	if c.password != "" {
		s = strings.ReplaceAll(s, c.password, "[redacted]")
	}
	if tokens := c.tokens.Load(); tokens != nil {
		for _, t := range *tokens {
			s = strings.ReplaceAll(s, t, "[redacted]")
		}
	}
	return s
}

// redactErr drops the URL (with its query) from a transport error, keeping the cause.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func instanceForm(group, service string, inst Instance) url.Values {
	meta, _ := json.Marshal(nonNil(inst.Metadata))
	return url.Values{
		"serviceName": {groupedName(group, service)}, "groupName": {group}, "ip": {inst.IP},
		"port": {strconv.FormatUint(inst.Port, 10)}, "weight": {strconv.FormatFloat(inst.Weight, 'f', -1, 64)},
		"enable": {strconv.FormatBool(inst.Enabled)}, "healthy": {strconv.FormatBool(inst.Healthy)},
		"ephemeral": {strconv.FormatBool(inst.Ephemeral)}, "clusterName": {clusterOf(inst)},
		// Some servers refuse a registration without metadata.
		"metadata": {string(meta)},
	}
}

func clusterOf(inst Instance) string {
	if inst.ClusterName == "" {
		return "DEFAULT"
	}
	return inst.ClusterName
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// groupedName is how the 1.x API names a service of a group: group@@service.
func groupedName(group, service string) string {
	if group == "" {
		group = DefaultGroup
	}
	return group + "@@" + service
}

// DefaultGroup is Nacos' group when none is given.
const DefaultGroup = "DEFAULT_GROUP"
