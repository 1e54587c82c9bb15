package nacos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nacos-group/nacos-sdk-go/clients/nacos_client"
	"github.com/nacos-group/nacos-sdk-go/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	sdklogger "github.com/nacos-group/nacos-sdk-go/common/logger"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/util"
	"github.com/nacos-group/nacos-sdk-go/vo"
)

// namingClient is the part of the Nacos naming API the watch uses, in the SDK's own types so
// that tests can stand in for the SDK with its exact contract (paging defaults, callbacks
// identified by the *SubscribeParam they were subscribed with).
type namingClient interface {
	GetAllServicesInfo(param vo.GetAllServiceInfoParam) (model.ServiceList, error)
	Subscribe(param *vo.SubscribeParam) error
	Unsubscribe(param *vo.SubscribeParam) error
	// QueryInstances reads the instance list of group@@service from the server, every instance
	// whatever its health. Unlike the SDK's SelectAllInstances it never answers from the SDK
	// cache, which ignores empty lists and hides server errors.
	QueryInstances(service, group string) ([]model.Instance, error)
	// Close releases what the client holds. The SDK's own goroutines cannot be stopped; after
	// Close their requests fail at once.
	Close()
}

// sdkClient is namingClient on nacos-sdk-go v1.
type sdkClient struct {
	*naming_client.NamingClient
	proxy naming_client.NamingProxy
	agent *httpAgent
	dir   string
}

// newSDKClient builds the SDK naming client. It contacts the server only to log in when a
// username is set. Its cache goes to a private per-process directory that Close removes. Every
// request it makes ends when ctx ends.
// PrepareSDK must run before any SDK client is used. nacos-sdk-go v1 fills a package-level cache
// of the host's address on first use without synchronisation, so two clients (or two calls of
// one client) querying at once race on it; filling it once up front removes the race.
//
// The SDK's package-level logger starts as a zap console logger writing to stdout; it is
// replaced first, so that nothing (such as util.LocalIP's "Local IP" line) bypasses the
// gateway's own logger.
func PrepareSDK() {
	localIPOnce.Do(func() {
		_ = sdklogger.InitLogger(sdklogger.Config{CustomLogger: DiscardLogger{}})
		_ = util.LocalIP()
	})
}

var localIPOnce sync.Once

func newSDKClient(ctx context.Context, name string, cfg settings) (namingClient, error) {
	PrepareSDK()
	dir, err := privateDir(name)
	if err != nil {
		return nil, err
	}
	cc := constant.ClientConfig{
		NamespaceId: cfg.Namespace,
		TimeoutMs:   uint64(cfg.Timeout / time.Millisecond),
		// The file cache is written but never read back: state comes from the server only.
		NotLoadCacheAtStart: true,
		// Let an empty instance list reach the SDK cache and fire the subscribe callback, so the
		// last instance leaving is noticed without waiting for the next re-read.
		UpdateCacheWhenEmpty: true,
		Username:             cfg.Username,
		Password:             cfg.Password,
		CacheDir:             filepath.Join(dir, "cache"),
		LogDir:               filepath.Join(dir, "log"),
		LogLevel:             "error",
		CustomLogger:         DiscardLogger{},
	}
	agent := newHTTPAgent(ctx)
	fail := func(err error) (namingClient, error) {
		agent.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	nc := &nacos_client.NacosClient{}
	if err := nc.SetClientConfig(cc); err != nil {
		return fail(fmt.Errorf("nacos client config: %w", err))
	}
	// The SDK validates and completes server configs in place; hand it a copy.
	servers := append([]constant.ServerConfig(nil), cfg.servers...)
	if err := nc.SetServerConfig(servers); err != nil {
		return fail(fmt.Errorf("nacos server config: %w", err))
	}
	if err := nc.SetHttpAgent(agent); err != nil {
		return fail(err)
	}
	naming, err := naming_client.NewNamingClient(nc)
	if err != nil {
		return fail(fmt.Errorf("create nacos naming client: %w", err))
	}
	full, _ := nc.GetClientConfig()
	serverCfgs, _ := nc.GetServerConfig()
	proxy, err := naming_client.NewNamingProxy(full, serverCfgs, agent)
	if err != nil {
		return fail(fmt.Errorf("create nacos naming proxy: %w", err))
	}
	return &sdkClient{NamingClient: &naming, proxy: proxy, agent: agent, dir: dir}, nil
}

func (c *sdkClient) QueryInstances(service, group string) ([]model.Instance, error) {
	// udpPort 0: a plain read that does not ask the server to push to this client.
	raw, err := c.proxy.QueryList(group+constant.SERVICE_INFO_SPLITER+service, "", 0, false)
	if err != nil {
		return nil, err
	}
	var svc model.Service
	if err := json.Unmarshal([]byte(raw), &svc); err != nil {
		return nil, fmt.Errorf("decode instance list: %w", err)
	}
	return svc.Hosts, nil
}

func (c *sdkClient) Close() {
	c.agent.Close()
	_ = os.RemoveAll(c.dir)
}

// privateDir makes a directory only this user can read, for the SDK's cache (which holds
// instance metadata, API keys included): <user cache dir>/pixiu-gateway/nacos-sdk/<name>-<pid>-*.
// It falls back to the temp dir when there is no user cache dir.
func privateDir(name string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	parent := filepath.Join(base, "pixiu-gateway", "nacos-sdk")
	if err := os.MkdirAll(parent, 0o700); err != nil {
		parent = filepath.Join(os.TempDir(), "pixiu-gateway-nacos-sdk")
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", fmt.Errorf("create nacos sdk dir: %w", err)
		}
	}
	sweepStale(parent)
	dir, err := os.MkdirTemp(parent, safeName.ReplaceAllString(name, "_")+"-"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return "", fmt.Errorf("create nacos sdk dir: %w", err)
	}
	return dir, nil
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// sweepStale removes the dirs of gateway processes that ended without Stop (killed): their
// names are <name>-<pid>-<random>. Best effort; a dir whose process may be alive is kept.
func sweepStale(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if !e.IsDir() || len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

// DiscardLogger replaces the SDK's logger, which is process-wide; every user of the SDK in this
// module installs it. At info level the SDK logs every pushed instance list, metadata and so API
// keys included, and its error lines carry request parameters (access tokens); failures are
// reported from returned errors instead.
type DiscardLogger struct{}

func (DiscardLogger) Info(...any)           {}
func (DiscardLogger) Warn(...any)           {}
func (DiscardLogger) Error(...any)          {}
func (DiscardLogger) Debug(...any)          {}
func (DiscardLogger) Infof(string, ...any)  {}
func (DiscardLogger) Warnf(string, ...any)  {}
func (DiscardLogger) Errorf(string, ...any) {}
func (DiscardLogger) Debugf(string, ...any) {}
