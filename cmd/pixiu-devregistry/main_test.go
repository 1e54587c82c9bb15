package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAddrFlagTakesALoopbackPortOnly(t *testing.T) {
	for addr, want := range map[string]int{"": 0, "127.0.0.1:8848": 8848, "localhost:18848": 18848, ":8848": 8848} {
		got, err := loopbackPort(addr)
		assert.NoError(t, err, addr)
		assert.Equal(t, want, got, addr)
	}
	for addr, want := range map[string]string{
		"0.0.0.0:8848":   "listens on 127.0.0.1 only",
		"10.0.0.5:8848":  "listens on 127.0.0.1 only",
		"127.0.0.1":      "want 127.0.0.1:PORT",
		"127.0.0.1:http": `port "http" is not 1-65535`,
	} {
		_, err := loopbackPort(addr)
		assert.ErrorContains(t, err, want, addr)
	}
}
