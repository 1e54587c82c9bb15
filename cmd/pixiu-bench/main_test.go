package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/bench/suite"
)

func TestParseScales(t *testing.T) {
	got, err := parseScales("1000x5, 2000x5")
	require.NoError(t, err)
	assert.Equal(t, []suite.ScaleSize{{Services: 1000, PerService: 5}, {Services: 2000, PerService: 5}}, got)

	got, err = parseScales("")
	require.NoError(t, err)
	assert.Nil(t, got, "empty means the suite's default")

	for _, bad := range []string{"1000", "x5", "0x5", "10x-1", "ten"} {
		_, err := parseScales(bad)
		assert.ErrorContains(t, err, "SERVICESxINSTANCES", bad)
	}
}

func TestParseTransports(t *testing.T) {
	got, err := parseTransports("http, grpc")
	require.NoError(t, err)
	assert.Equal(t, []string{suite.TransportHTTP, suite.TransportGRPC}, got)

	got, err = parseTransports("grpc")
	require.NoError(t, err)
	assert.Equal(t, []string{suite.TransportGRPC}, got)

	for _, bad := range []string{"", "udp", "http,polaris"} {
		_, err := parseTransports(bad)
		assert.Error(t, err, bad)
	}
}
