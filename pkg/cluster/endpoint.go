package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// EndpointError is a problem with one key of an endpoint, Key written as in pixiu.yaml relative
// to the endpoint ("socket_address.port", "llm_meta.retry_policy").
type EndpointError struct {
	Key string
	Err error
}

func (e *EndpointError) Error() string { return e.Key + ": " + e.Err.Error() }

func (e *EndpointError) Unwrap() error { return e.Err }

func endpointErr(key, format string, args ...any) error {
	return &EndpointError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Compiled is what requests need of an endpoint, derived once when the endpoint is published.
type Compiled struct {
	// Target is where requests go. Its Scheme is empty when the endpoint's address names none:
	// the filter that sends the request decides (see Target.WithScheme).
	Target model.Target
	Retry  retry.Policy
}

// Compile checks an endpoint and derives its target and retry policy. Static endpoints and
// adapter endpoints go through it alike; on failure it returns an *EndpointError.
func Compile(ep *model.Endpoint) (Compiled, error) {
	target, err := compileAddress(&ep.Address)
	if err != nil {
		return Compiled{}, err
	}
	if ep.Weight < 0 {
		return Compiled{}, endpointErr("weight", "negative weight %v", ep.Weight)
	}
	var name string
	var config map[string]any
	if m := ep.LLMMeta; m != nil {
		if m.HealthCheckInterval < 0 {
			return Compiled{}, endpointErr("llm_meta.health_check_interval", "negative interval %d", m.HealthCheckInterval)
		}
		if err := model.CheckModelNames(m.Models); err != nil {
			return Compiled{}, &EndpointError{Key: "llm_meta.models", Err: err}
		}
		name, config = m.RetryPolicy.Name, m.RetryPolicy.Config
	}
	policy, err := retry.New(name, config)
	if err != nil {
		return Compiled{}, &EndpointError{Key: "llm_meta.retry_policy", Err: err}
	}
	return Compiled{Target: target, Retry: policy}, nil
}

// compileAddress checks every domain of the address and its port, and returns the target of the
// first domain (or of address:port without one).
func compileAddress(sa *model.SocketAddress) (model.Target, error) {
	if len(sa.Domains) == 0 && sa.Address == "" {
		return model.Target{}, endpointErr("socket_address", "endpoint needs socket_address.domains or socket_address.address")
	}
	for i, d := range sa.Domains {
		one := model.SocketAddress{Domains: []string{d}}
		_, err := one.Target("")
		if err == nil && strings.TrimSpace(d) == "" {
			err = errors.New("empty domain")
		}
		if err != nil {
			return model.Target{}, &EndpointError{Key: fmt.Sprintf("socket_address.domains[%d]", i), Err: err}
		}
	}
	if sa.Port < 0 || sa.Port > 65535 {
		return model.Target{}, endpointErr("socket_address.port", "port %d out of range 0..65535", sa.Port)
	}
	return sa.Target("")
}
