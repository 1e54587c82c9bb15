package config

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// normalizeUpstreamSpellings rewrites, in the parsed yaml, what upstream Pixiu's published
// configs spell differently from this gateway's model, so that they load unchanged: an
// endpoint's `ID` key becomes `id`, and retry policy settings written directly under
// `retry_policy` move under `retry_policy.config` (with an info remark naming the line).
func normalizeUpstreamSpellings(root *yaml.Node) ([]Warning, error) {
	var warnings []Warning
	err := eachEndpoint(root, func(path string, ep *yaml.Node) error {
		if err := normalizeEndpointID(path, ep); err != nil {
			return err
		}
		w, err := liftRetryPolicyKeys(path+".llm_meta.retry_policy", lookup(ep, "llm_meta", "retry_policy"))
		warnings = append(warnings, w...)
		return err
	})
	return warnings, err
}

// eachEndpoint calls fn with the path and node of every endpoint mapping of every cluster.
func eachEndpoint(root *yaml.Node, fn func(path string, ep *yaml.Node) error) error {
	clusters := lookup(root, "static_resources", "clusters")
	if clusters == nil || clusters.Kind != yaml.SequenceNode {
		return nil
	}
	for ci, c := range clusters.Content {
		eps := lookup(c, "endpoints")
		if eps == nil || eps.Kind != yaml.SequenceNode {
			continue
		}
		for ei, ep := range eps.Content {
			if ep.Kind != yaml.MappingNode {
				continue
			}
			if err := fn(fmt.Sprintf("static_resources.clusters[%d].endpoints[%d]", ci, ei), ep); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeEndpointID accepts upstream Pixiu's `ID` key by renaming it to `id`.
func normalizeEndpointID(path string, ep *yaml.Node) error {
	var lower, upper *yaml.Node
	for i := 0; i+1 < len(ep.Content); i += 2 {
		switch ep.Content[i].Value {
		case "id":
			lower = ep.Content[i]
		case "ID":
			upper = ep.Content[i]
		}
	}
	if upper == nil {
		return nil
	}
	if lower != nil {
		return &FieldError{Path: path + ".ID", Err: errors.New("both `id` and `ID` are set; use one")}
	}
	upper.Value = "id"
	return nil
}

// liftRetryPolicyKeys moves every key of a retry_policy mapping other than name and config into
// its config mapping: upstream's samples write `retry_policy: {name: CountBased, times: 3}`.
func liftRetryPolicyKeys(path string, policy *yaml.Node) ([]Warning, error) {
	if policy == nil || policy.Kind != yaml.MappingNode {
		return nil, nil
	}
	var config *yaml.Node
	var kept, lifted []*yaml.Node
	for i := 0; i+1 < len(policy.Content); i += 2 {
		key, value := policy.Content[i], policy.Content[i+1]
		switch key.Value {
		case "config":
			config = value
			fallthrough
		case "name":
			kept = append(kept, key, value)
		default:
			lifted = append(lifted, key, value)
		}
	}
	if len(lifted) == 0 {
		return nil, nil
	}
	if config == nil {
		config = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		kept = append(kept, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "config", Line: lifted[0].Line}, config)
	}
	if config.Kind != yaml.MappingNode {
		return nil, &FieldError{Path: path + ".config", Err: errors.New("must be a mapping of the policy's settings")}
	}
	var warnings []Warning
	for i := 0; i < len(lifted); i += 2 {
		key := lifted[i].Value
		if lookup(config, key) != nil {
			return nil, &FieldError{Path: path + "." + key, Err: fmt.Errorf("set both here and as config.%s; keep one", key)}
		}
		config.Content = append(config.Content, lifted[i], lifted[i+1])
		warnings = append(warnings, Warning{Line: lifted[i].Line, Path: path + "." + key, Info: true,
			Msg: fmt.Sprintf("read as retry_policy.config.%s (upstream Pixiu's samples write it directly under retry_policy)", key)})
	}
	policy.Content = kept
	return warnings, nil
}
