// Package devserver holds what the harnesses of real servers (Polaris, r-nacos) share: the
// build cache outside the repo, building once under a lock, blocks of free loopback ports, and
// running a server as a child process that dies with the test binary. Linux only (flock,
// Pdeathsig).
package devserver
