package grpcnaming

// Login to a Nacos with auth on: a token from the HTTP login API, sent with every request.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	loginPath = "/nacos/v1/auth/users/login"
	// accessTokenHeader carries the token in a request's metadata.
	accessTokenHeader = "accessToken"
	// loginRetry is the wait after a failed renewal before the next attempt.
	loginRetry = 5 * time.Second
	// defaultTokenTTL is Nacos's default, for an answer that does not say.
	defaultTokenTTL = 5 * time.Hour
)

// login holds the token of one user. Its methods are safe for concurrent use.
type login struct {
	servers            []server
	username, password string
	http               *http.Client

	loggingIn sync.Mutex // serialises logins
	mu        sync.Mutex // guards the fields below; never held across a login
	token     string
	ttl       time.Duration
}

func newLogin(servers []server, username, password string, timeout time.Duration) *login {
	// No keep-alive: no idle connection (and its goroutines) outlives a login.
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}
	return &login{servers: servers, username: username, password: password,
		http: &http.Client{Transport: transport, Timeout: timeout}}
}

// headers are the headers a request carries: the token, if any.
func (l *login) headers() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		return nil
	}
	return map[string]string{accessTokenHeader: l.token}
}

// renew logs in again unless another call has done so since stale was handed out.
func (l *login) renew(ctx context.Context, stale map[string]string) error {
	l.mu.Lock()
	current := l.token
	l.mu.Unlock()
	if current != stale[accessTokenHeader] {
		return nil
	}
	return l.logIn(ctx)
}

// logIn asks each server in turn for a token until one gives it.
func (l *login) logIn(ctx context.Context) error {
	l.loggingIn.Lock()
	defer l.loggingIn.Unlock()
	var errs []error
	for _, s := range l.servers {
		token, ttl, err := l.request(ctx, s)
		if err == nil {
			l.mu.Lock()
			l.token, l.ttl = token, ttl
			l.mu.Unlock()
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("login as user %q failed: %w", l.username, errors.Join(errs...))
}

// keepFresh logs in again before the token expires, until ctx ends. Without a token (a server
// without auth) there is nothing to renew.
func (l *login) keepFresh(ctx context.Context) {
	wait := l.renewalDelay()
	for wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = loginRetry
		if l.logIn(ctx) == nil {
			wait = l.renewalDelay()
		}
	}
}

// renewalDelay leaves a tenth of the token's life for renewing it; 0 without a token.
func (l *login) renewalDelay() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		return 0
	}
	ttl := l.ttl
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	return max(ttl-ttl/10, loginRetry)
}

// request logs in at one server. Its error quotes no password and no token.
func (l *login) request(ctx context.Context, s server) (token string, ttl time.Duration, err error) {
	form := url.Values{"username": {l.username}, "password": {l.password}}
	endpoint := "http://" + s.httpAddr() + loginPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.http.Do(req)
	if err != nil {
		var uerr *url.Error // its URL holds no secret, but the cause says enough
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", 0, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("POST %s: read answer: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, l.redact(string(body)))
	}
	return parseLogin(body)
}

// parseLogin reads the token and its life from a login answer. No token: the server has no auth.
func parseLogin(body []byte) (string, time.Duration, error) {
	var answer struct {
		AccessToken string  `json:"accessToken"`
		TokenTTL    float64 `json:"tokenTtl"` // seconds
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", 0, fmt.Errorf("login answer is not the expected JSON: %w", err)
	}
	return answer.AccessToken, time.Duration(answer.TokenTTL * float64(time.Second)), nil
}

// redact shortens a server's refusal and removes the password from it, should it be echoed.
func (l *login) redact(s string) string {
	if l.password != "" {
		s = strings.ReplaceAll(s, l.password, "<password>")
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
