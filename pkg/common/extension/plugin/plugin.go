// Package plugin is the one place plugins of every kind are kept: HTTP filters, adapters, retry
// policies and registry protocols each fill a Set from their packages' init functions, and the
// host looks them up by name when it reads pixiu.yaml.
package plugin

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Set holds the plugins of one kind by name. It is safe for concurrent use.
type Set[T any] struct {
	kind       string
	ignoreCase bool

	mu     sync.RWMutex
	byName map[string]entry[T]
}

type entry[T any] struct {
	name  string // as registered, for listings
	value T
}

// NewSet returns an empty set; kind names the plugins in messages ("http filter"). With
// ignoreCase, names match whatever their case.
func NewSet[T any](kind string, ignoreCase bool) *Set[T] {
	return &Set[T]{kind: kind, ignoreCase: ignoreCase, byName: map[string]entry[T]{}}
}

// Register adds a plugin. Registering a name twice is a programming error and panics.
func (s *Set[T]) Register(name string, value T) {
	key := s.key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byName[key]; dup {
		panic(fmt.Sprintf("%s %q registered twice", s.kind, name))
	}
	s.byName[key] = entry[T]{name: name, value: value}
}

// Lookup returns the plugin registered under name.
func (s *Set[T]) Lookup(name string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byName[s.key(name)]
	return e.value, ok
}

// Get is Lookup with an error that names the unknown plugin and lists the known ones.
func (s *Set[T]) Get(name string) (T, error) {
	v, ok := s.Lookup(name)
	if !ok {
		return v, fmt.Errorf("unknown %s %q (known: %s)", s.kind, name, strings.Join(s.Names(), ", "))
	}
	return v, nil
}

// Spelling returns name as it was registered (names may match ignoring case), or name itself
// when nothing is registered under it.
func (s *Set[T]) Spelling(name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byName[s.key(name)]; ok {
		return e.name
	}
	return name
}

// Names lists the registered names as registered, sorted.
func (s *Set[T]) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.byName))
	for _, e := range s.byName {
		out = append(out, e.name)
	}
	sort.Strings(out)
	return out
}

func (s *Set[T]) key(name string) string {
	name = strings.TrimSpace(name)
	if s.ignoreCase {
		return strings.ToLower(name)
	}
	return name
}
