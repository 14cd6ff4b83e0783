package compat

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// clientLog replaces the official client's logger (rlog): instead of
// printing, it keeps the client's warnings and errors (and its offset
// commits) in memory, and a test that fails prints the ones logged while
// it ran. The client logs errors on expected paths (a route query for a
// topic that does not exist yet, a rebalance racing a shutdown), which
// would bury CI output.
var clientLog = &memoryLogger{}

// memoryLoggerCap bounds the lines kept; older lines are dropped.
const memoryLoggerCap = 50000

type memoryLogger struct {
	mu      sync.Mutex
	dropped int // lines dropped from the front, so marks stay valid
	lines   []string
}

func (l *memoryLogger) Debug(string, map[string]any) {}

// Info keeps only the client's record of each non-zero offset commit it
// sent, the evidence a lost commit needs (offset probes commit zeros for
// the queues they own).
func (l *memoryLogger) Info(msg string, fields map[string]any) {
	if strings.HasPrefix(msg, "update offset to broker") && fields["offset"] != int64(0) {
		l.add("INFO", msg, fields)
	}
}
func (l *memoryLogger) Warning(msg string, fields map[string]any) {
	l.add("WARN", msg, fields)
}
func (l *memoryLogger) Error(msg string, fields map[string]any) { l.add("ERROR", msg, fields) }

// Fatal records the line; the client's default logger would exit the
// process, which would hide which test was running.
func (l *memoryLogger) Fatal(msg string, fields map[string]any) { l.add("FATAL", msg, fields) }
func (l *memoryLogger) Level(string)                            {}
func (l *memoryLogger) OutputPath(string) error                 { return nil }

func (l *memoryLogger) add(level, msg string, fields map[string]any) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", time.Now().Format("15:04:05.000"), level, msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, fields[k])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	if len(l.lines) > memoryLoggerCap {
		n := len(l.lines) - memoryLoggerCap/2
		l.lines = append([]string(nil), l.lines[n:]...)
		l.dropped += n
	}
}

// mark returns a position to read from later.
func (l *memoryLogger) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped + len(l.lines)
}

// since returns the lines logged after mark.
func (l *memoryLogger) since(mark int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := max(mark-l.dropped, 0)
	if i >= len(l.lines) {
		return ""
	}
	return strings.Join(l.lines[i:], "\n")
}
