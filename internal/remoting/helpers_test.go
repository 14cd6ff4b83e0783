package remoting

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// waitTimeout bounds every wait in these tests; reaching it is a failure,
// not a timing assertion.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for delay := 100 * time.Microsecond; !cond(); delay = min(2*delay, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

// recv receives from ch or fails the test.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// checkNoLeaks fails the test if goroutines of this package outlive it.
// Register it first so it runs after the other cleanups.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var stacks string
		deadline := time.Now().Add(waitTimeout)
		for {
			stacks = leakedGoroutines()
			if stacks == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines leaked:\n%s", stacks)
			}
			time.Sleep(time.Millisecond)
		}
	})
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "remoting.leakedGoroutines") || strings.Contains(g, "testing.(*T).Run") {
			continue
		}
		if strings.Contains(g, "petrel/internal/remoting.") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

// logCapture is a slog.Handler recording messages and attributes.
type logCapture struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every record
}

func newLogCapture() *logCapture { return &logCapture{changed: make(chan struct{})} }

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logWithAttrs{l, attrs}
}
func (l *logCapture) WithGroup(string) slog.Handler { return l }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.record(r, nil)
	return nil
}

func (l *logCapture) record(r slog.Record, attrs []slog.Attr) {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// waitLine waits for a recorded line containing every part.
func (l *logCapture) waitLine(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if containsAll(line, parts) {
				l.mu.Unlock()
				return line
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line with %q in:\n%s", parts, strings.Join(l.snapshot(), "\n"))
		}
	}
}

func (l *logCapture) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

type logWithAttrs struct {
	l     *logCapture
	attrs []slog.Attr
}

func (w *logWithAttrs) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWithAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logWithAttrs{w.l, append(append([]slog.Attr(nil), w.attrs...), attrs...)}
}
func (w *logWithAttrs) WithGroup(string) slog.Handler { return w }
func (w *logWithAttrs) Handle(_ context.Context, r slog.Record) error {
	w.l.record(r, w.attrs)
	return nil
}

// testServer is a Server on a loopback port with captured logs and a
// record of connection states.
type testServer struct {
	*Server
	addr   string
	logs   *logCapture
	served chan error // Serve's result

	mu     sync.Mutex
	states []ConnState
	conns  []*Conn
}

func startServer(t *testing.T, h Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: l.Addr().String(), logs: newLogCapture(), served: make(chan error, 1)}
	ts.Server = &Server{Handler: h, Logger: slog.New(ts.logs)}
	ts.ConnState = func(c *Conn, s ConnState) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.states = append(ts.states, s)
		if s == StateNew {
			ts.conns = append(ts.conns, c)
		}
	}
	for _, f := range configure {
		f(ts.Server)
	}
	go func() { ts.served <- ts.Serve(l) }()
	t.Cleanup(func() {
		ts.Close()
		if err := recv(t, ts.served, "Serve to return"); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

func (ts *testServer) count(s ConnState) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for _, got := range ts.states {
		if got == s {
			n++
		}
	}
	return n
}

// conn returns the i-th accepted connection, waiting for it.
func (ts *testServer) conn(t testing.TB, i int) *Conn {
	t.Helper()
	var c *Conn
	waitFor(t, "an accepted connection", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if i < len(ts.conns) {
			c = ts.conns[i]
		}
		return c != nil
	})
	return c
}

func newTestClient(t *testing.T, opts ClientOptions) (*Client, *logCapture) {
	logs := newLogCapture()
	if opts.Logger == nil {
		opts.Logger = slog.New(logs)
	}
	c := NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// rawConn is a plain TCP connection for sending hand-made frames.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc, bufio.NewReader(nc)}
}

func (rc *rawConn) send(t *testing.T, cmds ...*protocol.Command) {
	t.Helper()
	var b []byte
	for _, c := range cmds {
		b = c.AppendFrame(b)
	}
	if _, err := rc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (rc *rawConn) read(t *testing.T) *protocol.Command {
	t.Helper()
	rc.SetReadDeadline(time.Now().Add(waitTimeout))
	c, err := protocol.ReadFrame(rc.r, 0)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return c
}

// echo answers every request with its body and extFields.
func echo(req *Request) *protocol.Command {
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Ext = req.Cmd.Ext.Clone()
	resp.Body = req.Cmd.Body
	return resp
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
