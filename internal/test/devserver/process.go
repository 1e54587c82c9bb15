package devserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Command describes a server process to start.
type Command struct {
	Path string
	Args []string
	Dir  string
	// Env is the complete environment; nil means this process's environment.
	Env []string
	// LogPath receives stdout and stderr (appended, so restarts keep earlier output).
	LogPath string
}

// Process is a running child process in its own process group. It is killed when the test
// binary dies, even on a panic or SIGKILL (Pdeathsig).
type Process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
	err     error         // Wait's result, valid after done
}

// Start starts c.
func Start(c Command) (*Process, error) {
	logFile, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group so signals reach only this server (and anything it forks); Pdeathsig so
	// it dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p := &Process{cmd: cmd, logPath: c.LogPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child exits, not the process, so
		// keep this goroutine on its thread while the child lives.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	return p, nil
}

// PID is the process id (and process group id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is how the process ended; valid once Done is closed.
func (p *Process) ExitErr() error { return p.err }

// Kill SIGKILLs the process group and waits for the process to be reaped. Killing a process
// that already exited is not an error.
func (p *Process) Kill() error {
	if p.signal(syscall.SIGKILL, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d still running 10s after SIGKILL", p.PID())
}

// Terminate sends SIGTERM, waits up to grace for the process to exit, then kills it.
func (p *Process) Terminate(grace time.Duration) error {
	if p.signal(syscall.SIGTERM, grace) {
		return nil
	}
	return p.Kill()
}

// signal signals the process group and reports whether the process exited within timeout.
func (p *Process) signal(sig syscall.Signal, timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	if err := syscall.Kill(-p.PID(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false
	}
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// LogTail is the last n bytes of the process's log, for failure messages.
func (p *Process) LogTail(n int64) string { return FileTail(p.logPath, n) }

// FileTail is the last n bytes of a file, or the error reading it.
func FileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return err.Error()
	}
	return string(b)
}
