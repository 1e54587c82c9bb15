// Package devserver holds what the harnesses of real servers (Polaris, r-nacos) share: the
// build cache outside the repo, building once under a lock, blocks of free loopback ports, and
// running a server as a child process (childproc) that dies with the test binary and restarts
// on the same ports. Linux only (flock, Pdeathsig).
package devserver
