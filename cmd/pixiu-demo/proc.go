package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// child is a process the demo started: in its own process group (so a signal the demo sends
// reaches it and whatever it forks, and a Ctrl-C in the terminal reaches only the demo, which then
// stops its children in order), with Pdeathsig so it dies with the demo even if the demo is
// killed outright.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, valid after done
}

// startChild starts name with args. Every line the process prints goes to onLine (from a
// goroutine); env is added to the demo's own environment.
func startChild(name string, env []string, onLine func(line string), bin string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw

	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	var lines sync.WaitGroup
	lines.Add(1)
	go func() {
		defer lines.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			onLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // an over-long line: keep draining so the child never blocks
	}()

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not the process: keep this
		// goroutine on its thread for as long as the child lives.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			_ = pw.Close()
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		_ = pw.Close()
		lines.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		lines.Wait()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit status, -1 when a signal ended it or it is still running.
func (c *child) exitCode() int {
	if !c.exited() || c.cmd.ProcessState == nil {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

// wait waits up to timeout for the process to end on its own.
func (c *child) wait(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", c.name, timeout)
	}
}

// stop sends SIGTERM to the process group and waits up to grace for the process to end, then
// SIGKILLs the group. It returns the process's own exit error when it ended within grace.
func (c *child) stop(grace time.Duration) error {
	if c.exited() {
		return c.err
	}
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(grace):
	}
	c.signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", c.name, grace)
}

func (c *child) signal(sig syscall.Signal) {
	if err := syscall.Kill(-c.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = c.cmd.Process.Signal(sig)
	}
}
