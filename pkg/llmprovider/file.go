package llmprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Placeholders for an instance address a file leaves out: a bare metadata map describes an
// instance without saying where it runs. 192.0.2.1 is reserved for documentation (RFC 5737).
const (
	unknownIP   = "192.0.2.1"
	unknownPort = 65535
)

// instanceFileKeys are the keys of the instance form of a file (see ParseFile).
var instanceFileKeys = []string{"service", "group", "ip", "port", "weight", "metadata"}

// ParseFile reads an instance description for `pixiu llm validate`, in YAML or JSON. Two forms:
//
// The instance form has a `metadata` key and, optionally, the instance's own fields as Nacos
// holds them:
//
//	service: llm-deepseek      # Nacos service name (default "llm-service")
//	group: DEFAULT_GROUP
//	ip: 10.0.0.12              # the instance's own ip and port
//	port: 8080
//	weight: 1                  # default 1
//	metadata:
//	  cluster: chat
//	  id: deepseek-primary
//
// The bare form is the metadata map alone, as shown by the Nacos console. Its instance address
// is unknown, and the summary says where the instance's own ip or port would be used.
//
// Metadata values may be written as YAML scalars (port: 8080, llm-meta.fallback: true) or, for
// llm-meta.retry_policy.config and llm-meta.api_keys, as YAML/JSON objects and lists; they are
// turned into the strings Nacos stores (objects and lists as JSON).
func ParseFile(data []byte) (in Instance, addressKnown bool, err error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return in, false, errors.New("file is empty")
		}
		return in, false, fmt.Errorf("not YAML or JSON: %w", err)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return in, false, fmt.Errorf("line %d: want a mapping of metadata keys, or an instance with a `metadata` key", top.Line)
	}
	in = Instance{Service: "llm-service", Weight: 1}
	metaNode := top
	if value(top, "metadata") != nil {
		if metaNode, err = readInstanceKeys(top, &in); err != nil {
			return in, false, err
		}
	}
	if in.Metadata, err = metadataOf(metaNode); err != nil {
		return in, false, err
	}
	if in.Service == "" {
		return in, false, errors.New("service: empty service name")
	}
	addressKnown = in.IP != "" && in.Port != 0
	if in.IP == "" {
		in.IP = unknownIP
	}
	if in.Port == 0 {
		in.Port = unknownPort
	}
	return in, addressKnown, nil
}

// readInstanceKeys reads the keys of the instance form into in and returns its metadata node.
func readInstanceKeys(top *yaml.Node, in *Instance) (metaNode *yaml.Node, err error) {
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, v := top.Content[i].Value, top.Content[i+1]
		switch key {
		case "metadata":
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: metadata: want a mapping of keys to values", v.Line)
			}
			metaNode = v
		case "service", "group", "ip", "port", "weight":
			if err := setInstanceField(in, key, v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (an instance file has %s; put gateway settings under metadata)",
				top.Content[i].Line, key, strings.Join(instanceFileKeys, ", "))
		}
	}
	return metaNode, nil
}

// setInstanceField sets the instance field key (service, group, ip, port or weight) from v.
func setInstanceField(in *Instance, key string, v *yaml.Node) error {
	if v.Kind != yaml.ScalarNode && (key == "service" || key == "group" || key == "ip") {
		return fmt.Errorf("line %d: %s: want a string", v.Line, key)
	}
	text := strings.TrimSpace(v.Value)
	switch key {
	case "service":
		in.Service = text
	case "group":
		in.Group = text
	case "ip":
		in.IP = text
	case "port":
		p, err := strconv.ParseUint(text, 10, 16)
		if v.Kind != yaml.ScalarNode || err != nil || p == 0 {
			return fmt.Errorf("line %d: port: want a port number 1-65535", v.Line)
		}
		in.Port = p
	case "weight":
		w, err := strconv.ParseFloat(text, 64)
		if v.Kind != yaml.ScalarNode || err != nil || w < 0 || math.IsInf(w, 0) {
			return fmt.Errorf("line %d: weight: want a number >= 0", v.Line)
		}
		in.Weight = w
	}
	return nil
}

// metadataOf turns a YAML mapping into Nacos metadata strings.
func metadataOf(n *yaml.Node) (map[string]string, error) {
	meta := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			return nil, fmt.Errorf("line %d: metadata keys must be non-empty strings", k.Line)
		}
		if _, dup := meta[k.Value]; dup {
			return nil, fmt.Errorf("line %d: metadata key %q appears twice", k.Line, k.Value)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				meta[k.Value] = ""
			} else {
				meta[k.Value] = v.Value
			}
		case yaml.MappingNode, yaml.SequenceNode:
			var x any
			if err := v.Decode(&x); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
			}
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: cannot be written as JSON: %w", v.Line, k.Value, err)
			}
			meta[k.Value] = string(b)
		default:
			return nil, fmt.Errorf("line %d: %s: unsupported value", v.Line, k.Value)
		}
	}
	return meta, nil
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
