package main

import (
	"os"
	"os/exec"
	"time"

	"github.com/pixiu-llm/gateway/internal/childproc"
)

// startChild starts name with args in its own process group: a signal the demo sends reaches it
// and whatever it forks, a Ctrl-C in the terminal reaches only the demo (which then stops its
// children in order), and it dies with the demo even if the demo is killed outright. Every line
// the process prints goes to onLine (from a goroutine); env is added to the demo's own environment.
func startChild(name string, env []string, onLine func(line string), bin string, args ...string) (*childproc.Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return childproc.Start(name, cmd, onLine)
}

// stopChild sends SIGTERM to c's process group and waits up to grace for it to end, then SIGKILLs
// the group. It returns the process's own exit error when it ended within grace.
func stopChild(c *childproc.Process, grace time.Duration) error {
	if err := c.Stop(grace); err != nil {
		return err
	}
	return c.Err()
}
