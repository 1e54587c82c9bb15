package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// EnvCacheDir names the environment variable that moves the cache (built servers, port locks).
const EnvCacheDir = "PIXIU_CACHE_DIR"

// CacheDir is where built servers and the port-block locks live: $PIXIU_CACHE_DIR if set, else
// <os.UserCacheDir>/pixiu-llm. It is outside the repo, so a clean clone reuses what an earlier
// run built on the same machine.
func CacheDir() (string, error) {
	if dir := os.Getenv(EnvCacheDir); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate user cache dir (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(base, "pixiu-llm"), nil
}

// BuildOnce makes sure the executable artifact exists, running build when it does not.
// Concurrent callers, in this process or in others (go test runs packages as parallel
// processes), wait on a lock file next to artifact, so only one of them builds. build must leave
// an executable at artifact, and should create it atomically (write elsewhere, then rename).
func BuildOnce(ctx context.Context, artifact string, build func(context.Context) error) error {
	if IsExecutable(artifact) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(artifact), 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, artifact+".lock")
	if err != nil {
		return fmt.Errorf("lock %s for building: %w", artifact, err)
	}
	defer unlock()
	if IsExecutable(artifact) { // another process built it while we waited
		return nil
	}
	if err := build(ctx); err != nil {
		return err
	}
	if !IsExecutable(artifact) {
		return fmt.Errorf("build finished but left no executable at %s", artifact)
	}
	return nil
}

// lockFile takes an exclusive flock on path, polling so the wait honours ctx (a blocking flock
// cannot be interrupted). The lock is released when the returned func runs or the process dies.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	logged := false
	for {
		f, err := TryLockFile(path)
		if err != nil {
			return nil, err
		}
		if f != nil {
			return func() { _ = f.Close() }, nil // closing the fd drops the lock
		}
		if !logged {
			slog.Info("waiting for another process to finish building", "lock", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TryLockFile takes an exclusive flock on path without waiting: it returns nil, nil when somebody
// else holds the lock. Closing the file drops the lock.
func TryLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// IsExecutable reports whether path is a regular file with an execute bit.
func IsExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
