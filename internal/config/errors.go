package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrSyntax marks a properties file that cannot be read (a malformed
	// \uXXXX escape).
	ErrSyntax = errors.New("properties syntax error")
	// ErrInvalidValue marks a value that does not fit its key.
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnknownKey marks a Set call naming a key the struct does not have.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalidConfig marks settings that are each valid but do not fit
	// together (found by Validate).
	ErrInvalidConfig = errors.New("invalid configuration")
)

// position renders "file:line: ", "file: ", "line N: " or "".
func position(file string, line int) string {
	switch {
	case file != "" && line > 0:
		return file + ":" + strconv.Itoa(line) + ": "
	case file != "":
		return file + ": "
	case line > 0:
		return "line " + strconv.Itoa(line) + ": "
	}
	return ""
}

// SyntaxError reports a properties document that cannot be parsed.
type SyntaxError struct {
	File string // empty when parsed from a bare reader
	Line int
	Msg  string
}

// Error renders "file:line: msg".
func (e *SyntaxError) Error() string { return position(e.File, e.Line) + e.Msg }

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// ValueError reports a value refused for a key. Error renders it as
//
//	broker.conf:7: flushDiskType: "SYNCFLUSH" is not one of ASYNC_FLUSH, SYNC_FLUSH
type ValueError struct {
	File  string // empty for Set and Validate
	Line  int    // 0 for Set and Validate
	Key   string // as written by the user (an alias stays an alias)
	Value string // the offending value, trimmed
	Want  string // what the key accepts, e.g. "an integer from 1 to 65535"
}

// Error renders the position, key, bad value and expectation.
func (e *ValueError) Error() string {
	return fmt.Sprintf("%s%s: %q is not %s", position(e.File, e.Line), e.Key, e.Value, e.Want)
}

// Unwrap returns ErrInvalidValue.
func (e *ValueError) Unwrap() error { return ErrInvalidValue }

// Warning is a problem that does not stop a load: an unknown key, a key
// given twice, or a value clamped into RocketMQ's range. Callers log them.
type Warning struct {
	File string
	Line int
	Key  string
	Msg  string // e.g. `unknown key "brokerNmae" ignored (did you mean brokerName?)`
}

// String renders "file:line: msg".
func (w Warning) String() string { return position(w.File, w.Line) + w.Msg }

// Warnings is the list of warnings from one load, in file order.
type Warnings []Warning

// Strings renders every warning with Warning.String.
func (ws Warnings) Strings() []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}
