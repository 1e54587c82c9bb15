package devserver

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pixiu-llm/gateway/internal/childproc"
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

// Start starts c as a child (see childproc: own process group, killed when the test binary
// dies) with its output appended to c.LogPath.
func Start(c Command) (*childproc.Process, error) {
	logFile, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	return childproc.Start(filepath.Base(c.Path), cmd, nil)
}

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
