package rnacos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

// errStartupPanic: r-nacos 0.8.8 often panics while starting on a fresh data dir (measured on a
// busy 2-CPU box: half of the starts with auth on, some without): it bootstraps its raft log
// before its state-apply actor is wired up, and that actor panics on the first write. From then
// on everything raft-backed fails with "Mailbox has closed": users and login, config, the login
// rate limiter; naming still works. Such a server is started again. Once a raft write has
// succeeded (see ready) the actor is wired up and the race is over.
var errStartupPanic = errors.New("r-nacos panicked while starting (a start-up race of r-nacos 0.8.8)")

// startAttempts bounds the starts tried after start-up panics (each costs well under a second).
const startAttempts = 20

// start (re)starts the server, again after a start-up panic. wipe empties the data dir first
// (a failed first start may leave a half-initialised store behind).
func (s *Server) start(ctx context.Context, wipe bool) error {
	var err error
	for range startAttempts {
		err = s.srv.Restart(ctx, func() error {
			if wipe {
				if err := os.RemoveAll(s.DataDir()); err != nil {
					return fmt.Errorf("wipe data dir: %w", err)
				}
			}
			s.logOffset = fileSize(s.logPath())
			return nil
		})
		if !errors.Is(err, errStartupPanic) {
			return err
		}
	}
	return err
}

// ready is the readiness check: no start-up panic, the user can log in (auth on), the 1.x
// service list answers 200, a raft-backed write succeeds, and the gRPC port accepts connections.
func (s *Server) ready(ctx context.Context) error {
	if strings.Contains(s.logSinceStart(), "panicked at") {
		return devserver.Broken(errStartupPanic)
	}
	token, err := s.AccessToken(ctx)
	if err != nil {
		return err
	}
	q := url.Values{"pageNo": {"1"}, "pageSize": {"10"}}
	if token != "" {
		q.Set("accessToken", token)
	}
	if err := devserver.GetOK(ctx, "http://"+s.Addr()+"/nacos/v1/ns/service/list?"+q.Encode()); err != nil {
		return err
	}
	if err := s.raftWrite(ctx, token); err != nil {
		return err
	}
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", s.GRPCAddr())
	if err != nil {
		return fmt.Errorf("gRPC port: %w", err)
	}
	return conn.Close()
}

// raftWrite publishes a config item: it goes through r-nacos's raft log, which the service list
// does not touch.
func (s *Server) raftWrite(ctx context.Context, token string) error {
	form := url.Values{"dataId": {"pixiu-harness-ready"}, "group": {"DEFAULT_GROUP"}, "content": {"ok"}}
	if token != "" {
		form.Set("accessToken", token)
	}
	body, err := post(ctx, "http://"+s.Addr()+"/nacos/v1/cs/configs", form)
	if err != nil {
		return fmt.Errorf("publish config: %w", err)
	}
	if strings.TrimSpace(body) != "true" {
		return fmt.Errorf("publish config: answered %q", body)
	}
	return nil
}

// AccessToken logs in as Options.Username and returns the token the 1.x HTTP API wants as
// accessToken parameter; "" when auth is off.
func (s *Server) AccessToken(ctx context.Context) (string, error) {
	if s.opts.Username == "" {
		return "", nil
	}
	form := url.Values{"username": {s.opts.Username}, "password": {s.opts.Password}}
	body, err := post(ctx, "http://"+s.Addr()+"/nacos/v1/auth/users/login", form)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("login: no accessToken in %q", body)
	}
	return out.AccessToken, nil
}

// post sends a form and returns the body of a 200 answer.
func post(ctx context.Context, url string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return string(body), nil
}

// logSinceStart is what the server printed since the current start.
func (s *Server) logSinceStart() string {
	f, err := os.Open(s.logPath())
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(s.logOffset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
