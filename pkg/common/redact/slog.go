package redact

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"reflect"
)

// Handler is a slog.Handler that redacts before handing records on: attributes under secret
// names lose their value, strings and errors are scrubbed with Text, and composite values
// (structs, maps, slices) are logged as their redacted JSON form, so a config struct logged with
// slog.Any cannot print a password through fmt's %+v. Types that implement slog.LogValuer are
// resolved first and then go through the same checks.
type Handler struct {
	inner slog.Handler
}

// NewHandler wraps inner. Wrapping a Handler again returns it unchanged.
func NewHandler(inner slog.Handler) slog.Handler {
	if h, ok := inner.(*Handler); ok {
		return h
	}
	return &Handler{inner: inner}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = Attr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(clean)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}

// Attr returns a with its value redacted.
func Attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if IsSecretName(a.Key) {
		switch v.Kind() {
		case slog.KindBool, slog.KindInt64, slog.KindUint64, slog.KindFloat64:
			return slog.Attr{Key: a.Key, Value: v}
		case slog.KindString:
			if v.String() == "" {
				return slog.Attr{Key: a.Key, Value: v}
			}
		}
		return slog.String(a.Key, Placeholder)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Text(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, ga := range group {
			clean[i] = Attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		return slog.Attr{Key: a.Key, Value: anyValue(v.Any())}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func anyValue(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(Text(t.Error()))
	case fmt.Stringer:
		return slog.StringValue(Text(t.String()))
	case encoding.TextMarshaler:
		b, err := t.MarshalText()
		if err != nil {
			return slog.StringValue(Placeholder)
		}
		return slog.StringValue(Text(string(b)))
	case []byte:
		return slog.StringValue(Text(string(t)))
	}
	rv := reflect.ValueOf(x)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface:
		return slog.AnyValue(JSON(x))
	case reflect.String:
		return slog.StringValue(Text(rv.String()))
	}
	return slog.AnyValue(x)
}
