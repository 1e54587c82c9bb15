package cluster

import (
	"fmt"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// knownLbPolicies are the canonical policy names, in the order messages list them.
var knownLbPolicies = []string{
	model.LoadBalancerRoundRobin, model.LoadBalancerRand, model.LoadBalancerWeightRandom,
	model.LoadBalancerRingHashing, model.LoadBalancerMaglevHashing,
}

// KnownLbPolicies returns the canonical names of the load-balancing policies.
func KnownLbPolicies() []string { return append([]string(nil), knownLbPolicies...) }

// LbPolicy returns the canonical name of a load-balancing policy however pixiu.yaml spells it:
// case, '_' and '-' do not matter, so "round_robin", "roundrobin" and "RoundRobin" are the same.
// An empty name is RoundRobin. ok is false when the name is none of the known policies.
func LbPolicy(name string) (canonical string, ok bool) {
	folded := foldPolicyName(name)
	if folded == "" {
		return model.LoadBalancerRoundRobin, true
	}
	for _, known := range knownLbPolicies {
		if folded == foldPolicyName(known) {
			return known, true
		}
	}
	return "", false
}

// ValidLbPolicy is LbPolicy with an error listing the known policies for an unknown name.
func ValidLbPolicy(name string) (string, error) {
	if canonical, ok := LbPolicy(name); ok {
		return canonical, nil
	}
	return "", fmt.Errorf("unknown lb_policy %q (known: %s)", name, strings.Join(knownLbPolicies, ", "))
}

func foldPolicyName(name string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(name) {
		if r == '_' || r == '-' {
			continue
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// hashingPolicy reports whether a canonical policy name picks by consistent hashing.
func hashingPolicy(canonical string) bool {
	return canonical == model.LoadBalancerRingHashing || canonical == model.LoadBalancerMaglevHashing
}
