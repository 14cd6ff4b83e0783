package remoting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// A Handler answers requests. ServeRemoting runs in its own goroutine per
// request. Returning a command sends it as the response; returning nil means
// the handler has replied or will reply later with req.Reply (long polling),
// or that the request gets no response at all (then call req.Reply(nil) so
// Shutdown need not wait for it).
type Handler interface {
	ServeRemoting(req *Request) *protocol.Command
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request) *protocol.Command

// ServeRemoting calls f(req).
func (f HandlerFunc) ServeRemoting(req *Request) *protocol.Command { return f(req) }

// Request is a request received on a connection.
type Request struct {
	// Cmd is the decoded request.
	Cmd *protocol.Command
	// Conn is the connection it came on; Conn.Invoke reaches the peer.
	Conn *Conn

	state atomic.Int32 // requestOpen, requestReplied or requestReleased
	refs  atomic.Int32 // the running handler and the pending reply
	// parked is set once the request sits in its connection's parked set,
	// its handler returned, waiting for a later Reply.
	parked atomic.Bool
	// body is Cmd.Body's pooled buffer (Server.RecycleBody), returned when
	// the request settles.
	body *[]byte
}

const (
	requestOpen int32 = iota
	requestReplied
	requestReleased // its connection closed before a reply
)

// Context returns a context cancelled when the request's connection closes
// or the server is closed: handlers that block should watch it.
func (r *Request) Context() context.Context { return r.Conn.ctx }

// Reply sends resp as the response to r. It may be called once, from any
// goroutine, at any time; it forces resp's opaque, response flag and
// serialize type to match the request (without modifying resp), so resp may
// be built with r.Cmd.NewResponse or shared between requests. Reply(nil)
// declares that no response will be sent. For ONEWAY requests Reply does
// nothing. It returns ErrAlreadyReplied on a second call and an error
// wrapping ErrConnClosed if the connection has closed.
func (r *Request) Reply(resp *protocol.Command) error {
	if r.Cmd.IsOneway() {
		return nil
	}
	if !r.state.CompareAndSwap(requestOpen, requestReplied) {
		if r.state.Load() == requestReleased {
			return fmt.Errorf("remoting: reply to %s: %w", r.Conn.RemoteAddr(), ErrConnClosed)
		}
		return ErrAlreadyReplied
	}
	var err error
	if resp != nil {
		out := *resp
		out.Opaque = r.Cmd.Opaque
		out.Flag = resp.Flag | protocol.FlagResponse
		out.SerializeType = r.Cmd.SerializeType
		err = r.Conn.enqueue(nil, &out)
		if errors.Is(err, protocol.ErrFrameTooLarge) {
			// Tell the peer rather than let it time out.
			r.Conn.enqueue(nil, r.Cmd.NewResponse(protocol.SystemError, err.Error()))
		}
		if err != nil {
			err = fmt.Errorf("remoting: reply to %s: %w", r.Conn.RemoteAddr(), err)
		}
	}
	if r.parked.Load() {
		r.Conn.unpark(r)
	}
	r.settle()
	return err
}

// release gives up on replying because the connection closed.
func (r *Request) release() {
	if r.state.CompareAndSwap(requestOpen, requestReleased) {
		r.settle()
	}
}

// settle drops one reference; the last one tells the tracker the request
// is finished.
func (r *Request) settle() {
	if r.refs.Add(-1) == 0 {
		if r.body != nil {
			r.Cmd.Body = nil
			putBody(r.body)
			r.body = nil
		}
		r.Conn.cfg.tracker.done()
	}
}

// Mux dispatches requests to handlers by request code. Unknown codes are
// answered REQUEST_CODE_NOT_SUPPORTED with the Java broker's remark. The zero
// Mux is ready to use; handlers may be added while it serves.
type Mux struct {
	mu       sync.Mutex                        // serializes writers
	handlers atomic.Pointer[map[int32]Handler] // copied on write, read lock-free
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{} }

// Handle registers h for a request code. It panics if h is nil or the code
// already has a handler: both are programming errors.
func (m *Mux) Handle(code int32, h Handler) {
	if h == nil {
		panic("remoting: nil handler for " + protocol.RequestName(code))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.handlers.Load()
	next := make(map[int32]Handler, 1)
	if old != nil {
		if _, dup := (*old)[code]; dup {
			panic("remoting: duplicate handler for " + protocol.RequestName(code))
		}
		for c, h := range *old {
			next[c] = h
		}
	}
	next[code] = h
	m.handlers.Store(&next)
}

// HandleFunc registers a function for a request code.
func (m *Mux) HandleFunc(code int32, f func(req *Request) *protocol.Command) {
	m.Handle(code, HandlerFunc(f))
}

// ServeRemoting dispatches req by its code.
func (m *Mux) ServeRemoting(req *Request) *protocol.Command {
	if hs := m.handlers.Load(); hs != nil {
		if h, ok := (*hs)[req.Cmd.Code]; ok {
			return h.ServeRemoting(req)
		}
	}
	return notSupported(req)
}

// notSupported answers like the Java broker does for an unknown code.
func notSupported(req *Request) *protocol.Command {
	return req.Cmd.NewResponse(protocol.RequestCodeNotSupported,
		fmt.Sprintf(" request type %d not supported", req.Cmd.Code))
}
