package remoting

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// Defaults of Server and Client settings left zero.
const (
	// DefaultIdleTimeout matches Java's serverChannelMaxIdleTimeSeconds and
	// the Go client's read deadline.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxInFlightPerConn bounds the handlers running for one
	// connection before its reader pauses.
	DefaultMaxInFlightPerConn = 4096
	// DefaultDialTimeout bounds Client dials.
	DefaultDialTimeout = 3 * time.Second
)

// ConnState is a connection lifecycle event reported to Server.ConnState.
type ConnState int

const (
	// StateNew: the connection was accepted; no request has been read yet.
	StateNew ConnState = iota
	// StateClosed: the connection is closed and its goroutines have ended.
	StateClosed
)

// String names the state.
func (s ConnState) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Server serves remoting connections. Set its fields before calling Serve;
// the zero value (plus a Handler) is usable.
type Server struct {
	// Handler answers requests; nil answers every request
	// REQUEST_CODE_NOT_SUPPORTED.
	Handler Handler
	// Logger receives connection and handler events; nil means slog.Default().
	Logger *slog.Logger
	// MaxFrameSize bounds frames in both directions, length prefix
	// included; zero means protocol.DefaultMaxFrameSize (16 MiB).
	MaxFrameSize int
	// IdleTimeout closes a connection that sends nothing for this long, and
	// one whose writes make no progress for this long (either up to an
	// eighth longer: the deadlines are refreshed lazily); zero means
	// DefaultIdleTimeout, negative disables.
	IdleTimeout time.Duration
	// ConnState, if set, is called with StateNew before a connection's first
	// read and with StateClosed once it is closed (the broker drops the
	// client's registrations then). It may be called concurrently for
	// different connections and must not block for long.
	ConnState func(*Conn, ConnState)
	// MaxInFlightPerConn is how many handlers may run at once for one
	// connection; the connection is not read while they all run. Zero
	// means DefaultMaxInFlightPerConn.
	MaxInFlightPerConn int
	// Inline, if set, picks requests to serve on the connection's reader
	// goroutine instead of handing them to a handler goroutine, when the
	// request is alone on its connection (see Conn.dispatch). The
	// hand-off costs a goroutine wake-up per request, which is much of a
	// sync producer's round trip on a busy 2-core machine; serving inline
	// saves it but reads nothing more from the connection until the
	// handler returns, so only handlers that never wait (on a sync, a
	// peer, a lock held across IO) may be picked.
	Inline func(*protocol.Command) bool
	// RecycleBody, if set, picks requests whose bodies are read into
	// pooled buffers, reused once the request is finished: its handler
	// returned and its reply was sent (or declared unsent). Only requests
	// whose handlers keep no reference to the body, or any part of it,
	// past that point may be picked.
	RecycleBody func(*protocol.Command) bool

	inShutdown atomic.Bool
	tracker    tracker // requests, callbacks

	mu         sync.Mutex
	listeners  map[net.Listener]bool
	conns      map[*Conn]bool
	onShutdown []func()
	stop       chan struct{} // closed by Shutdown/Close: ends accept back-off
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) connConfig() connConfig {
	cfg := connConfig{
		handler:     s.Handler,
		logger:      s.logger(),
		maxFrame:    s.MaxFrameSize,
		idle:        s.IdleTimeout,
		maxInFlight: s.MaxInFlightPerConn,
		inline:      s.Inline,
		recycle:     s.RecycleBody,
		tracker:     &s.tracker,
		onClose:     s.connClosed,
	}
	if cfg.maxFrame <= 0 {
		cfg.maxFrame = protocol.DefaultMaxFrameSize
	}
	if cfg.idle == 0 {
		cfg.idle = DefaultIdleTimeout
	}
	if cfg.maxInFlight <= 0 {
		cfg.maxInFlight = DefaultMaxInFlightPerConn
	}
	return cfg
}

// stopChan returns the channel closed by Shutdown/Close; s.mu must be held.
func (s *Server) stopChanLocked() chan struct{} {
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	return s.stop
}

// Serve accepts connections on l and serves each on its own goroutines. It
// returns ErrServerClosed after Shutdown or Close, or the listener's error.
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]bool)
	}
	s.listeners[l] = true
	stop := s.stopChanLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	cfg := s.connConfig()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			cfg.logger.Warn("remoting: accept failed; retrying", "err", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.serveConn(nc, cfg)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) serveConn(nc net.Conn, cfg connConfig) {
	c := newConn(nc, cfg)
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*Conn]bool)
	}
	s.conns[c] = true
	s.mu.Unlock()
	if s.ConnState != nil {
		s.ConnState(c, StateNew)
	}
	c.start()
}

func (s *Server) connClosed(c *Conn) {
	if s.ConnState != nil {
		s.ConnState(c, StateClosed)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// RegisterOnShutdown registers a function Shutdown and Close call once new
// requests are being refused, e.g. to answer parked long-polling requests at
// once. It must not block.
func (s *Server) RegisterOnShutdown(f func()) {
	s.mu.Lock()
	s.onShutdown = append(s.onShutdown, f)
	s.mu.Unlock()
}

// beginShutdown stops accepting, refuses new requests, runs the shutdown
// hooks and returns the open connections and a channel closed when the
// requests in flight are done.
func (s *Server) beginShutdown() ([]*Conn, <-chan struct{}) {
	s.mu.Lock()
	first := !s.inShutdown.Swap(true)
	if first {
		close(s.stopChanLocked())
	}
	for l := range s.listeners {
		l.Close()
	}
	hooks := s.onShutdown
	s.onShutdown = nil
	s.mu.Unlock()
	// Hooks run once new requests are refused, so none parks after them.
	idle := s.tracker.drain()
	for _, f := range hooks {
		f()
	}
	return s.openConns(), idle
}

func (s *Server) openConns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// Shutdown shuts the server down gracefully: it stops accepting, answers
// new requests SERVICE_NOT_AVAILABLE, waits for running handlers and parked
// requests to be answered, writes the queued replies and closes every
// connection. If ctx ends first it closes everything at once and returns
// ctx.Err(); handlers still running then see their Request.Context end.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, idle := s.beginShutdown()
	select {
	case <-idle:
	case <-ctx.Done():
		s.closeConns()
		return ctx.Err()
	}
	for _, c := range conns {
		c.closeAfterFlush()
	}
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			s.closeConns()
			return ctx.Err()
		}
	}
	return nil
}

// Close closes the listeners and every connection at once, then waits for
// the handlers still running to return (they see Request.Context end).
func (s *Server) Close() error {
	_, idle := s.beginShutdown()
	for _, c := range s.closeConns() {
		<-c.done
	}
	<-idle
	return nil
}

func (s *Server) closeConns() []*Conn {
	conns := s.openConns()
	for _, c := range conns {
		c.Close()
	}
	return conns
}
