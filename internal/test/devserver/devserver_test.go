package devserver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

func TestCacheDir(t *testing.T) {
	t.Setenv(devserver.EnvCacheDir, "/some/where")
	dir, err := devserver.CacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/some/where", dir)

	t.Setenv(devserver.EnvCacheDir, "")
	dir, err = devserver.CacheDir()
	require.NoError(t, err)
	base, err := os.UserCacheDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(base, "pixiu-llm"), dir)
}

func TestBuildOnceBuildsOnce(t *testing.T) {
	artifact := filepath.Join(t.TempDir(), "sub", "tool")
	var builds atomic.Int32
	build := func(context.Context) error {
		builds.Add(1)
		time.Sleep(50 * time.Millisecond) // let the others queue on the lock
		return os.WriteFile(artifact, []byte("#!/bin/sh\n"), 0o755)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = devserver.BuildOnce(context.Background(), artifact, build)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, builds.Load())
	assert.True(t, devserver.IsExecutable(artifact))
}

func TestBuildOnceReportsBuildsThatLeaveNothing(t *testing.T) {
	artifact := filepath.Join(t.TempDir(), "tool")
	err := devserver.BuildOnce(context.Background(), artifact, func(context.Context) error { return nil })
	require.ErrorContains(t, err, "left no executable")
	boom := errors.New("boom")
	err = devserver.BuildOnce(context.Background(), artifact, func(context.Context) error { return boom })
	require.ErrorIs(t, err, boom)
}

func TestReservePorts(t *testing.T) {
	t.Setenv(devserver.EnvCacheDir, t.TempDir())
	a, err := devserver.ReservePorts(2)
	require.NoError(t, err)
	defer a.Release()
	b, err := devserver.ReservePorts(2)
	require.NoError(t, err)
	defer b.Release()
	assert.NotEqual(t, a.Port(0), b.Port(0))
	assert.Equal(t, a.Port(0)+1000, a.Port(1))
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(a.Port(1)), a.Addr(1))
	assert.GreaterOrEqual(t, a.Port(0), devserver.PortBase)

	_, err = devserver.ReservePorts(devserver.MaxPortRoles + 1)
	assert.Error(t, err)
}

func TestReservePortsPinsARole(t *testing.T) {
	t.Setenv(devserver.EnvCacheDir, t.TempDir())
	free, err := devserver.ReservePorts(1)
	require.NoError(t, err)
	pinned := free.Port(0)
	free.Release()

	b, err := devserver.ReservePorts(2, devserver.Pin{Role: 1, Port: pinned})
	require.NoError(t, err)
	defer b.Release()
	assert.Equal(t, pinned, b.Port(1))
	assert.NotEqual(t, pinned, b.Port(0))
	assert.True(t, devserver.PortFree(pinned), "reserving probes a port, it does not hold it")
}

func TestStartedServerLogsAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log")
	p, err := devserver.Start(devserver.Command{
		Path: "/bin/sh", Args: []string{"-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done"},
		Dir: dir, LogPath: logPath,
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return devserver.FileTail(logPath, 100) == "started\n" }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Stop(5*time.Second))
	<-p.Done()
	assert.Contains(t, devserver.FileTail(logPath, 100), "bye", "SIGTERM reached the shell")
	require.NoError(t, p.Kill(), "killing an ended process is no error")
	assert.ErrorIs(t, syscall.Kill(p.Pid(), 0), syscall.ESRCH)
}

func TestWaitReadyFailsWhenTheProcessExits(t *testing.T) {
	dir := t.TempDir()
	p, err := devserver.Start(devserver.Command{Path: "/bin/sh", Args: []string{"-c", "exit 3"}, Dir: dir, LogPath: filepath.Join(dir, "log")})
	require.NoError(t, err)
	notYet := errors.New("not yet")
	err = devserver.WaitReady(context.Background(), p, func(context.Context) error { return notYet })
	require.ErrorIs(t, err, notYet)
	assert.ErrorContains(t, err, "process exited (exit status 3)")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = devserver.WaitReady(ctx, p, func(context.Context) error { return nil })
	assert.NoError(t, err, "a passing check wins")
}

func TestServerLifecycle(t *testing.T) {
	t.Setenv(devserver.EnvCacheDir, t.TempDir())
	ports, err := devserver.ReservePorts(1)
	require.NoError(t, err)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	srv := devserver.NewServer(devserver.Spec{
		Name:    "sleeper",
		Command: devserver.Command{Path: "/bin/sh", Args: []string{"-c", "touch marker; exec sleep 60"}, Dir: dir, LogPath: filepath.Join(dir, "log")},
		Ready: func(context.Context) error {
			_, err := os.Stat(marker)
			return err
		},
		ReadyTimeout: 10 * time.Second,
		Ports:        ports,
		RemoveDir:    dir,
	})
	require.NoError(t, srv.Start(context.Background()))
	first := srv.PID()
	require.NotZero(t, first)

	prepared := false
	require.NoError(t, srv.Restart(context.Background(), func() error {
		prepared = true
		assert.ErrorIs(t, syscall.Kill(first, 0), syscall.ESRCH, "the old process is gone before prepare")
		return os.Remove(marker)
	}))
	assert.True(t, prepared)
	assert.NotEqual(t, first, srv.PID())

	require.NoError(t, srv.Kill())
	require.NoError(t, srv.Stop())
	require.NoError(t, srv.Stop(), "Stop is idempotent")
	assert.NoDirExists(t, dir)
	require.ErrorContains(t, srv.Restart(context.Background(), nil), "sleeper: restart after stop")
}

func TestServerNotReady(t *testing.T) {
	dir := t.TempDir()
	srv := devserver.NewServer(devserver.Spec{
		Name:         "mute",
		Command:      devserver.Command{Path: "/bin/sh", Args: []string{"-c", "echo hello from mute; exec sleep 60"}, Dir: dir, LogPath: filepath.Join(dir, "log")},
		Ready:        func(context.Context) error { return errors.New("never") },
		ReadyTimeout: 300 * time.Millisecond,
	})
	err := srv.Start(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "mute not ready")
	assert.ErrorContains(t, err, "hello from mute", "the log tail explains the failure")
	require.NoError(t, srv.Stop())
}

func TestWaitReadyStopsOnBroken(t *testing.T) {
	dir := t.TempDir()
	p, err := devserver.Start(devserver.Command{Path: "/bin/sh", Args: []string{"-c", "exec sleep 60"}, Dir: dir, LogPath: filepath.Join(dir, "log")})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Kill()) }()
	cause := errors.New("panicked")
	began := time.Now()
	err = devserver.WaitReady(context.Background(), p, func(context.Context) error { return devserver.Broken(cause) })
	require.ErrorIs(t, err, cause)
	assert.Less(t, time.Since(began), time.Second)
}
