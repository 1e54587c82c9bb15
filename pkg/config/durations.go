package config

import (
	"fmt"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"
)

// checkDurations finds duration fields of t whose value in n is not a Go duration, and names
// the key with what is wanted. The yaml package's own message ("cannot unmarshal !!str `60
// seconds` into time.Duration") says neither.
func checkDurations(n *yaml.Node, t reflect.Type, path string) error {
	if n, t = unwrap(n, t); n == nil {
		return nil
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			return &FieldError{Path: path, Err: fmt.Errorf("%q is not a duration; want a duration like 60s (units: ms, s, m, h)", n.Value)}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f, ok := fields[n.Content[i].Value]; ok {
				if err := checkDurations(n.Content[i+1], f, joinKey(path, n.Content[i].Value)); err != nil {
					return err
				}
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkDurations(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
