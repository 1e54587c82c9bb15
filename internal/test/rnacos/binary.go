package rnacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pixiu-llm/gateway/internal/test/devserver"
)

// Version is the pinned r-nacos release (crate rnacos).
const Version = "0.8.8"

// ErrNoCargo means r-nacos is not built yet and cannot be: the Rust toolchain is missing.
var ErrNoCargo = errors.New("cargo (the Rust toolchain, https://rustup.rs) is not installed, " +
	"and r-nacos " + Version + " is built from source with cargo install")

// InstallRoot is the cargo install root of the pinned version: <devserver.CacheDir>/rnacos-<Version>.
func InstallRoot() (string, error) {
	dir, err := devserver.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "rnacos-"+Version), nil
}

// Binary returns the path of the cached rnacos binary, building it first if it is missing
// (once per machine: see devserver.BuildOnce). A cold build takes many minutes; it fails with
// ErrNoCargo when cargo cannot be found.
func Binary(ctx context.Context) (string, error) {
	root, err := InstallRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "rnacos")
	if devserver.IsExecutable(bin) {
		return bin, nil
	}
	cargo, err := findCargo()
	if err != nil {
		return "", err
	}
	err = devserver.BuildOnce(ctx, bin, func(ctx context.Context) error { return build(ctx, cargo, root) })
	return bin, err
}

// findCargo looks on PATH, then where rustup installs it (often not on a non-login PATH).
func findCargo() (string, error) {
	if path, err := exec.LookPath("cargo"); err == nil {
		return path, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if path := filepath.Join(home, ".cargo", "bin", "cargo"); devserver.IsExecutable(path) {
			return path, nil
		}
	}
	return "", ErrNoCargo
}

// build runs cargo install into root. cargo compiles in a temp dir and copies the binary into
// root/bin only at the end, so an interrupted build leaves no half-written binary.
func build(ctx context.Context, cargo, root string) error {
	logPath := root + "-build.log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create build log: %w", err)
	}
	defer logFile.Close()

	slog.Info("building r-nacos with cargo (first run only, takes many minutes)", "version", Version, "root", root, "log", logPath)
	began := time.Now()
	cmd := exec.CommandContext(ctx, cargo, "install", "--locked", "rnacos", "--version", Version, "--root", root)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cargo install rnacos %s: %w\n--- %s (tail) ---\n%s", Version, err, logPath, devserver.FileTail(logPath, 4096))
	}
	slog.Info("built r-nacos", "root", root, "took", time.Since(began).Round(time.Second))
	return nil
}
