// Package childproc is the one way the tooling (the demo, the benchmark, the test servers of
// devserver) runs a child process: in its own process group (a signal reaches it and whatever
// it forks, and a Ctrl-C in the terminal reaches only the parent) and with Pdeathsig, so it dies
// with the parent even when the parent is killed outright. Linux only.
package childproc

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

// killWait is how long Kill waits for the process to be reaped after SIGKILL.
const killWait = 10 * time.Second

// Process is a started child.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has been reaped and its output read
	err    error         // Wait's result, valid after done
	stopMu sync.Mutex
}

// Start starts cmd as name. With onLine set, every line the process prints on stdout or stderr
// goes to onLine (from one goroutine, all of them before Done closes); without it cmd's Stdout
// and Stderr are left as the caller set them.
func Start(name string, cmd *exec.Cmd, onLine func(line string)) (*Process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}

	var lines sync.WaitGroup
	var pw *io.PipeWriter
	if onLine != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		lines.Add(1)
		go func() {
			defer lines.Done()
			readLines(pr, onLine)
		}()
	}
	closeOutput := func() {
		if pw != nil {
			_ = pw.Close()
		}
		lines.Wait()
	}

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not the process: keep this
		// goroutine on its thread for as long as the child lives.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		closeOutput()
		close(p.done)
	}()
	if err := <-started; err != nil {
		closeOutput()
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	return p, nil
}

// readLines hands each line of r to onLine, then drains what is left (after a line too long for
// the scanner) so the child never blocks on a full pipe.
func readLines(r io.Reader, onLine func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		onLine(sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has ended and its output has been read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for a zero exit status), valid after Done.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the process's exit status, -1 when a signal ended it or it is still running.
func (p *Process) ExitCode() int {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits up to timeout for the process to end on its own and returns its exit error.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// Signal sends sig to the process group (to the process alone if the group is gone). A process
// that has ended is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	err := syscall.Kill(-p.Pid(), sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, p.Pid(), err)
	}
	return nil
}

// Stop sends SIGTERM to the process group, waits up to grace, then kills the group. It returns
// nil when the process ended within grace, whatever its exit status; it is idempotent.
func (p *Process) Stop(grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.Exited() {
		return nil
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.Name, grace)
}

// Kill sends SIGKILL to the process group and waits for the process to be reaped.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) still running %v after SIGKILL", p.Name, p.Pid(), killWait)
	}
}
