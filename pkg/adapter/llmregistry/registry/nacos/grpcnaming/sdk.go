package grpcnaming

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/common/security"
	"github.com/nacos-group/nacos-sdk-go/v2/util"
)

var prepareOnce sync.Once

// prepareSDK silences the SDK and fills its lazily set globals before any client exists.
//   - The SDK's logger is process-wide and starts as a zap logger on stderr. At info level it
//     logs every registration and pushed instance list, metadata and so API keys included, and
//     its request errors quote request bodies. Failures reach the caller as returned errors.
//   - util.LocalIP fills a package variable without synchronisation on first use, and every
//     gRPC request and push reply calls it: two at once race.
func prepareSDK() {
	prepareOnce.Do(func() {
		logger.SetLogger(discardLogger{})
		_ = util.LocalIP()
	})
}

type discardLogger struct{}

func (discardLogger) Info(...any)           {}
func (discardLogger) Warn(...any)           {}
func (discardLogger) Error(...any)          {}
func (discardLogger) Debug(...any)          {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Debugf(string, ...any) {}

// checkLogin logs in once, so that a refused login is an error of New. The SDK's own login
// (repeated before the token expires) only logs a failure, which would show up later as every
// request being refused.
func checkLogin(cc constant.ClientConfig, servers []constant.ServerConfig, agent http_agent.IHttpAgent) error {
	if cc.Username == "" {
		return nil
	}
	if _, err := security.NewNacosAuthClient(cc, servers, agent).Login(); err != nil {
		reason := err.Error()
		if cc.Password != "" {
			reason = strings.ReplaceAll(reason, cc.Password, "<password>")
		}
		if len(reason) > 200 {
			reason = reason[:200] + "..."
		}
		return fmt.Errorf("login as user %q failed: %s", cc.Username, reason)
	}
	return nil
}

// loginAgent is the HTTP transport the SDK logs in with; nothing else of the SDK uses HTTP here.
// Unlike the SDK's default agent it keeps no idle connection (so no goroutine outlives a
// login) and sends no request method the login does not need.
type loginAgent struct{}

var _ http_agent.IHttpAgent = (*loginAgent)(nil)

var errMethodNotUsed = errors.New("nacos grpc client: HTTP method not used")

var loginClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}

func (*loginAgent) Post(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	req, err := http.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := *loginClient
	client.Timeout = time.Duration(timeoutMs) * time.Millisecond
	resp, err := client.Do(req)
	if err != nil {
		// The URL carries no secret (the credentials are in the body), but keep errors short.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("POST %s: %w", path, uerr.Err)
		}
		return nil, err
	}
	return resp, nil
}

func (a *loginAgent) Request(method, path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	if method != http.MethodPost {
		return nil, errMethodNotUsed
	}
	return a.Post(path, header, timeoutMs, params)
}

func (a *loginAgent) RequestOnlyResult(method, path string, header http.Header, timeoutMs uint64, params map[string]string) string {
	resp, err := a.Request(method, path, header, timeoutMs, params)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (*loginAgent) Get(string, http.Header, uint64, map[string]string) (*http.Response, error) {
	return nil, errMethodNotUsed
}

func (*loginAgent) Delete(string, http.Header, uint64, map[string]string) (*http.Response, error) {
	return nil, errMethodNotUsed
}

func (*loginAgent) Put(string, http.Header, uint64, map[string]string) (*http.Response, error) {
	return nil, errMethodNotUsed
}
