// Package proc runs the benchmark's child processes (the gateway, the ReverseProxy floor) and
// reads their CPU time and memory from /proc. Linux only.
package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/internal/childproc"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. It is 100 on every Linux
// architecture Go supports (the kernel's USER_HZ, independent of the scheduler's HZ).
const userHZ = 100

// Usage is a process's resource use so far.
type Usage struct {
	CPU     time.Duration // user + system time, in 10ms ticks
	RSS     int64         // resident set size now, bytes
	PeakRSS int64         // high-water mark of the resident set (VmHWM), bytes
}

// ReadUsage reads the usage of process pid from /proc.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	cpu, err := parseCPU(string(stat))
	if err != nil {
		return Usage{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	rss, hwm, err := parseMemory(string(status))
	if err != nil {
		return Usage{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return Usage{CPU: cpu, RSS: rss, PeakRSS: hwm}, nil
}

// parseCPU extracts utime+stime from a /proc/<pid>/stat line. The command name (field 2) is in
// parentheses and may contain spaces, so fields are counted from the last ')'.
func parseCPU(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed /proc stat: no ')'")
	}
	fields := strings.Fields(stat[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed /proc stat: %d fields after the command name", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat cpu time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseMemory extracts VmRSS and VmHWM (reported in kB) from /proc/<pid>/status.
func parseMemory(status string) (rss, hwm int64, err error) {
	found := 0
	for line := range strings.Lines(status) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed /proc status %s %q: %w", key, strings.TrimSpace(value), err)
		}
		if key == "VmRSS" {
			rss = kb * 1024
		} else {
			hwm = kb * 1024
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc status has no VmRSS or VmHWM")
	}
	return rss, hwm, nil
}

// Process is a running child whose output is copied to a log file.
type Process struct {
	*childproc.Process
	LogPath string
}

// Start runs name with args (and extra environment), copies its stderr and stdout to logPath,
// and waits until ready accepts one of its output lines, returning what ready extracted (for
// example the address it listens on). It fails if the process exits or timeout passes first.
// The child gets SIGKILL if the benchmark dies.
func Start(ctx context.Context, name, logPath string, env []string, ready func(line string) (string, bool), timeout time.Duration, bin string, args ...string) (*Process, string, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, "", fmt.Errorf("%s: create log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	found := make(chan string, 1)
	matched := false
	child, err := childproc.Start(name, cmd, func(line string) {
		_, _ = logFile.WriteString(line + "\n")
		if !matched {
			if v, ok := ready(line); ok {
				matched = true
				found <- v
			}
		}
	})
	if err != nil {
		_ = logFile.Close()
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		<-child.Done() // every line has been written by then
		_ = logFile.Close()
	}()
	p := &Process{Process: child, LogPath: logPath}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-found:
		return p, v, nil
	case <-child.Done():
		return nil, "", fmt.Errorf("%s exited before it was ready (%v); log: %s", name, child.Err(), logPath)
	case <-timer.C:
		_ = p.Stop(time.Second)
		return nil, "", fmt.Errorf("%s not ready after %v; log: %s", name, timeout, logPath)
	case <-ctx.Done():
		_ = p.Stop(time.Second)
		return nil, "", ctx.Err()
	}
}

// Usage reads the child's resource use.
func (p *Process) Usage() (Usage, error) { return ReadUsage(p.Pid()) }

// ListeningAddr is a ready matcher for the slog JSON line {"msg":"listening","address":...}
// that the gateway and the benchmark's own servers log once they accept connections.
func ListeningAddr(line string) (string, bool) {
	if !strings.Contains(line, `"listening"`) {
		return "", false
	}
	var rec struct {
		Msg     string `json:"msg"`
		Address string `json:"address"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" || rec.Address == "" {
		return "", false
	}
	return rec.Address, true
}

// FindByCwd returns the pid of the process whose working directory is dir and whose
// executable's base name starts with namePrefix, for processes started elsewhere (such as the
// registry server). It fails when none or several match.
func FindByCwd(dir, namePrefix string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, fmt.Errorf("resolve %s: %w", dir, err)
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || cwd != want {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasPrefix(filepath.Base(exe), namePrefix) {
			continue
		}
		found = append(found, pid)
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no %s process running in %s", namePrefix, dir)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d %s processes running in %s", len(found), namePrefix, dir)
}
