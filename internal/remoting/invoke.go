package remoting

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// opaques numbers the requests this process originates, on any connection.
var opaques atomic.Int32

// call is an Invoke waiting for its response. Exactly one party removes it
// from Conn.pending (the reader on a response, failPending on close, or
// the waiter giving up) and only that party may complete it.
type call struct {
	opaque int32
	ch     chan callResult // capacity 1: completing never blocks
}

type callResult struct {
	resp *protocol.Command
	err  error
}

// calls recycles call structs and their channels; a call is returned only
// once its single result has been received or nobody can send it one.
var calls = sync.Pool{New: func() any { return &call{ch: make(chan callResult, 1)} }}

// Invoke sends req to the peer and waits for the response with the same
// opaque. It assigns a fresh opaque and clears the response and oneway
// flags on a copy: req itself is not modified and may be reused. The wait
// ends with ctx (error wrapping ctx.Err()) or when the connection closes
// (error wrapping ErrConnClosed).
func (c *Conn) Invoke(ctx context.Context, req *protocol.Command) (*protocol.Command, error) {
	cl, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, req.Code, cl)
}

// InvokeAsync sends req like Invoke and calls cb exactly once, on another
// goroutine, with the response or the error. The request is written before
// InvokeAsync returns, so requests keep their order on the wire.
func (c *Conn) InvokeAsync(ctx context.Context, req *protocol.Command, cb func(*protocol.Command, error)) {
	if !c.cfg.tracker.add() {
		err := c.invokeError(req.Code, ErrConnClosed)
		go cb(nil, err)
		return
	}
	cl, err := c.send(ctx, req)
	code := req.Code
	go func() {
		defer c.cfg.tracker.done()
		if err != nil {
			cb(nil, err)
			return
		}
		cb(c.wait(ctx, code, cl))
	}()
}

// InvokeOneway sends req with the ONEWAY flag: the peer sends no response.
// It returns once the request is queued for writing.
func (c *Conn) InvokeOneway(req *protocol.Command) error {
	out := *req
	out.Opaque = opaques.Add(1)
	out.Flag = req.Flag&^protocol.FlagResponse | protocol.FlagOneway
	if err := c.enqueue(nil, &out); err != nil {
		return c.invokeError(req.Code, err)
	}
	return nil
}

func (c *Conn) invokeError(code int32, err error) error {
	return fmt.Errorf("remoting: %s to %s: %w", protocol.RequestName(code), c.RemoteAddr(), err)
}

// send registers a call and queues the request under its opaque.
func (c *Conn) send(ctx context.Context, req *protocol.Command) (*call, error) {
	cl := calls.Get().(*call)
	if err := c.register(cl); err != nil {
		calls.Put(cl)
		return nil, c.invokeError(req.Code, err)
	}
	out := *req
	out.Opaque = cl.opaque
	out.Flag = req.Flag &^ (protocol.FlagResponse | protocol.FlagOneway)
	if err := c.enqueue(ctx, &out); err != nil {
		if !c.unregister(cl) {
			<-cl.ch // the connection closed meanwhile and completed it
		}
		calls.Put(cl)
		return nil, c.invokeError(req.Code, err)
	}
	return cl, nil
}

// wait waits for the call's result.
func (c *Conn) wait(ctx context.Context, code int32, cl *call) (*protocol.Command, error) {
	var res callResult
	select {
	case res = <-cl.ch:
	case <-ctx.Done():
		if c.unregister(cl) {
			calls.Put(cl)
			return nil, c.invokeError(code, ctx.Err())
		}
		res = <-cl.ch // a response or the close got there first
	}
	calls.Put(cl)
	if res.err != nil {
		return nil, c.invokeError(code, res.err)
	}
	return res.resp, nil
}

// register stores cl in pending under a fresh opaque.
func (c *Conn) register(cl *call) error {
	c.pend.Lock()
	defer c.pend.Unlock()
	if c.pend.closed {
		return ErrConnClosed
	}
	for {
		op := opaques.Add(1)
		if _, busy := c.pend.calls[op]; !busy { // only after 2^32 requests
			cl.opaque = op
			c.pend.calls[op] = cl
			return nil
		}
	}
}

// unregister removes cl if it is still pending; false means another party
// took it and will complete it.
func (c *Conn) unregister(cl *call) bool {
	c.pend.Lock()
	defer c.pend.Unlock()
	if c.pend.calls[cl.opaque] != cl {
		return false
	}
	delete(c.pend.calls, cl.opaque)
	return true
}

// deliver hands a response to the call waiting for its opaque.
func (c *Conn) deliver(resp *protocol.Command) {
	c.pend.Lock()
	cl := c.pend.calls[resp.Opaque]
	if cl != nil {
		delete(c.pend.calls, resp.Opaque)
	}
	c.pend.Unlock()
	if cl == nil {
		// Late replies to timed-out calls, replies to requests the peer
		// thought were oneway: the Go client drops these too.
		c.log.Debug("remoting: dropping a response nobody waits for",
			"opaque", resp.Opaque, "code", protocol.ResponseName(resp.Code))
		return
	}
	cl.ch <- callResult{resp: resp}
}

// failPending fails the calls waiting on this connection and releases the
// requests parked on it.
func (c *Conn) failPending() {
	c.pend.Lock()
	c.pend.closed = true
	pending, parked := c.pend.calls, c.pend.parked
	c.pend.calls, c.pend.parked = nil, nil
	c.pend.Unlock()
	for _, cl := range pending {
		cl.ch <- callResult{err: ErrConnClosed}
	}
	for req := range parked {
		req.release()
	}
}
