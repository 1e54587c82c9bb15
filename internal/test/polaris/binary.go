package polaris

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

const (
	modulePath    = "github.com/polarismesh/polaris"
	moduleVersion = "v1.18.1"
	binaryName    = "polaris-server-" + moduleVersion
)

// Binary returns the path of the cached polaris-server binary, building it first if it is
// missing; concurrent callers, in this process or others, build it once (devserver.BuildOnce).
func Binary(ctx context.Context) (string, error) {
	dir, err := devserver.CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, binaryName)
	if err := devserver.BuildOnce(ctx, bin, func(ctx context.Context) error { return build(ctx, dir, bin) }); err != nil {
		return "", err
	}
	return bin, nil
}

// build compiles polaris-server from its module into a temp file in dir and renames it to bin.
func build(ctx context.Context, dir, bin string) error {
	modDir, err := moduleDir(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+binaryName+"-*.tmp")
	if err != nil {
		return fmt.Errorf("create temp binary: %w", err)
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name()) // no-op once renamed

	slog.Info("building polaris-server (first run only, takes about a minute)", "version", moduleVersion, "output", bin)
	began := time.Now()
	if _, err := goCommand(ctx, dir, "build", "-C", modDir, "-o", tmp.Name(), "."); err != nil {
		return fmt.Errorf("build polaris-server: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return fmt.Errorf("chmod built binary: %w", err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return fmt.Errorf("install built binary: %w", err)
	}
	slog.Info("built polaris-server", "path", bin, "took", time.Since(began).Round(time.Second))
	return nil
}

var moduleDirCache struct {
	sync.Mutex
	dir string
}

// moduleDir downloads (if needed) the polaris module and returns its
// directory in the module cache. Both the build and the default config come
// from there.
func moduleDir(ctx context.Context) (string, error) {
	moduleDirCache.Lock()
	defer moduleDirCache.Unlock()
	if moduleDirCache.dir != "" {
		return moduleDirCache.dir, nil
	}
	scratch, err := devserver.CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	out, err := goCommand(ctx, scratch, "mod", "download", "-json", modulePath+"@"+moduleVersion)
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w", modulePath, moduleVersion, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("parse go mod download output: %w", err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download %s@%s: %q", modulePath, moduleVersion, info.Error)
	}
	moduleDirCache.dir = info.Dir
	return info.Dir, nil
}

// goCommand runs the go tool in workDir and returns its stdout. The
// environment is pinned so the caller's settings cannot break the build:
// the module cache dir has no vendor/ (so no -mod=vendor), may sit under some
// go.work, and is read-only (so no -mod=mod rewriting go.sum). CGO is off so
// no C toolchain is needed and the binary is static.
func goCommand(ctx context.Context, workDir string, args ...string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("find the go tool: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off", "CGO_ENABLED=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %v: %w\n%s", args, err, tail(stderr.Bytes(), 4096))
	}
	return stdout.Bytes(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
