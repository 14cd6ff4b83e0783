package protocol

import (
	"errors"
	"strconv"
	"strings"
)

// Errors about custom header fields; a *FieldError wraps one of them.
var (
	// ErrMissingField: a required extFields key is absent.
	ErrMissingField = errors.New("protocol: missing header field")
	// ErrInvalidField: an extFields value does not parse as its type.
	ErrInvalidField = errors.New("protocol: invalid header field")
)

// FieldError describes a custom header field that is missing or unparsable.
type FieldError struct {
	Field string
	Value string // the offending value; empty when missing
	Want  string // the expected type, e.g. "int32"
	Err   error  // ErrMissingField or ErrInvalidField
}

// Error uses Java's wording for a missing field so clients see familiar text.
func (e *FieldError) Error() string {
	if errors.Is(e.Err, ErrMissingField) {
		return "the custom field <" + e.Field + "> is null"
	}
	return "the custom field <" + e.Field + "> has invalid value " + strconv.Quote(e.Value) + ": want " + e.Want
}

// Unwrap returns ErrMissingField or ErrInvalidField.
func (e *FieldError) Unwrap() error { return e.Err }

// HeaderReader reads typed values from a command's extFields and keeps the
// first error, so a handler reads all its fields and checks once:
//
//	r := protocol.ReadHeader(cmd)
//	topic := r.String("topic")
//	queueID := r.Int32("queueId")
//	if err := r.Err(); err != nil { ... }
//
// Numbers parse like Java's Integer.parseInt / Long.parseLong, booleans like
// Boolean.parseBoolean ("true" in any case is true, anything else false).
// The Opt variants return the default when the key is absent; a present but
// unparsable value is still an error. After an error, getters return zero
// values or defaults.
type HeaderReader struct {
	ext Fields
	err error
}

// ReadHeader returns a reader over cmd's extFields.
func ReadHeader(cmd *Command) *HeaderReader {
	return &HeaderReader{ext: cmd.Ext}
}

// Err returns the first error met, or nil.
func (r *HeaderReader) Err() error { return r.err }

// Has reports whether the field is present.
func (r *HeaderReader) Has(name string) bool { return r.ext.Has(name) }

func (r *HeaderReader) fail(e *FieldError) {
	if r.err == nil {
		r.err = e
	}
}

func (r *HeaderReader) required(name, want string) (string, bool) {
	v, ok := r.ext.Lookup(name)
	if !ok {
		r.fail(&FieldError{Field: name, Want: want, Err: ErrMissingField})
	}
	return v, ok
}

// String returns a required string field.
func (r *HeaderReader) String(name string) string {
	v, _ := r.required(name, "string")
	return v
}

// OptString returns a string field or def when absent.
func (r *HeaderReader) OptString(name, def string) string {
	if v, ok := r.ext.Lookup(name); ok {
		return v
	}
	return def
}

// Int32 returns a required 32-bit integer field.
func (r *HeaderReader) Int32(name string) int32 {
	v, ok := r.required(name, "int32")
	if !ok {
		return 0
	}
	return r.parseInt32(name, v, 0)
}

// OptInt32 returns a 32-bit integer field or def when absent.
func (r *HeaderReader) OptInt32(name string, def int32) int32 {
	v, ok := r.ext.Lookup(name)
	if !ok {
		return def
	}
	return r.parseInt32(name, v, def)
}

// Int64 returns a required 64-bit integer field.
func (r *HeaderReader) Int64(name string) int64 {
	v, ok := r.required(name, "int64")
	if !ok {
		return 0
	}
	return r.parseInt64(name, v, 0)
}

// OptInt64 returns a 64-bit integer field or def when absent.
func (r *HeaderReader) OptInt64(name string, def int64) int64 {
	v, ok := r.ext.Lookup(name)
	if !ok {
		return def
	}
	return r.parseInt64(name, v, def)
}

// Bool returns a required boolean field.
func (r *HeaderReader) Bool(name string) bool {
	v, _ := r.required(name, "bool")
	return strings.EqualFold(v, "true")
}

// OptBool returns a boolean field or def when absent.
func (r *HeaderReader) OptBool(name string, def bool) bool {
	if v, ok := r.ext.Lookup(name); ok {
		return strings.EqualFold(v, "true")
	}
	return def
}

func (r *HeaderReader) parseInt32(name, v string, def int32) int32 {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		r.fail(&FieldError{Field: name, Value: v, Want: "int32", Err: ErrInvalidField})
		return def
	}
	return int32(n)
}

func (r *HeaderReader) parseInt64(name, v string, def int64) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(&FieldError{Field: name, Value: v, Want: "int64", Err: ErrInvalidField})
		return def
	}
	return n
}
