package remoting

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
	// timer bounds InvokeUntil's wait; pooled with the call, so a deadline
	// costs no allocation.
	timer *time.Timer
	// async is set for InvokeAsync's calls, which are completed by whoever
	// takes them from pending (a response, the close, the context) instead
	// of a goroutine waiting on ch for the whole round trip.
	async *asyncCall
	// deadline, for InvokeAsyncUntil's calls, is when the connection's
	// sweep fails the call (zero: never).
	deadline time.Time
}

// asyncSweepInterval is how often a connection with InvokeAsyncUntil
// calls in flight looks for ones past their deadline: such a call fails
// up to this much after its deadline.
const asyncSweepInterval = 100 * time.Millisecond

// asyncCall is the completion of an InvokeAsync call.
type asyncCall struct {
	conn *Conn
	code int32
	cb   func(*protocol.Command, error)
	stop func() bool // stops the context watch
}

// complete runs the callback on a goroutine of its own (reused: see
// reuse.Pool), never on the reader, so a callback may block or invoke
// again; exactly one party calls it, the one that removed the call from
// pending.
func (a *asyncCall) complete(res callResult) {
	a.stop()
	a.conn.callbacks.Go(asyncDone{a, res})
}

// asyncDone is a completed InvokeAsync call whose callback is to run.
type asyncDone struct {
	a   *asyncCall
	res callResult
}

func (d asyncDone) run() {
	a := d.a
	defer a.conn.cfg.tracker.done()
	if d.res.err != nil {
		a.cb(nil, a.conn.invokeError(a.code, d.res.err))
		return
	}
	a.cb(d.res.resp, nil)
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
	return c.InvokeUntil(ctx, req, time.Time{})
}

// InvokeUntil is Invoke whose wait also ends at deadline (error wrapping
// context.DeadlineExceeded); a zero deadline is none. It spares a caller
// the context and timer of context.WithTimeout per request (a sixth of a
// synchronous send's allocations).
func (c *Conn) InvokeUntil(ctx context.Context, req *protocol.Command, deadline time.Time) (*protocol.Command, error) {
	cl, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, req.Code, cl, deadline)
}

// Pending is a request sent by Start whose response is collected later
// with Wait. Exactly one Wait per Pending.
type Pending struct {
	conn *Conn
	code int32
	cl   *call
}

// Start sends req like Invoke but returns once the request is queued,
// without waiting for the response: the caller does other work meanwhile
// and collects the response with Wait. A push consumer sends its next pull
// this way before it decodes the answer to the last one.
func (c *Conn) Start(ctx context.Context, req *protocol.Command) (*Pending, error) {
	cl, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Pending{conn: c, code: req.Code, cl: cl}, nil
}

// Wait returns the response to the request, like Invoke: the wait ends with
// ctx, at deadline (zero: none) or when the connection closes. It must be
// called exactly once, also by a caller no longer interested (with a
// cancelled ctx or a past deadline it returns at once), so the call is
// released.
func (p *Pending) Wait(ctx context.Context, deadline time.Time) (*protocol.Command, error) {
	return p.conn.wait(ctx, p.code, p.cl, deadline)
}

// InvokeAsync sends req like Invoke and calls cb exactly once, on another
// goroutine, with the response or the error. The request is written before
// InvokeAsync returns, so requests keep their order on the wire. No
// goroutine waits for the response: a pipelining producer may have
// thousands in flight.
func (c *Conn) InvokeAsync(ctx context.Context, req *protocol.Command, cb func(*protocol.Command, error)) {
	if !c.cfg.tracker.add() {
		err := c.invokeError(req.Code, ErrConnClosed)
		go cb(nil, err)
		return
	}
	a := &asyncCall{conn: c, code: req.Code, cb: cb}
	cl := &call{async: a}
	// The watch is set before the call is registered, so whoever completes
	// it (after taking it from pending, under the lock register also
	// takes) sees stop; a watch firing first finds nothing to take.
	a.stop = context.AfterFunc(ctx, func() {
		if c.unregister(cl) {
			a.complete(callResult{err: ctx.Err()})
		}
	})
	c.sendAsync(ctx, cl, req)
}

// sendAsync registers an async call and queues its request; a failure
// completes the call.
func (c *Conn) sendAsync(ctx context.Context, cl *call, req *protocol.Command) {
	if err := c.register(cl); err != nil {
		cl.async.complete(callResult{err: err})
		return
	}
	out := *req
	out.Opaque = cl.opaque
	out.Flag = req.Flag &^ (protocol.FlagResponse | protocol.FlagOneway)
	if err := c.enqueue(ctx, &out); err != nil {
		if c.unregister(cl) {
			cl.async.complete(callResult{err: err})
		}
	}
}

// InvokeAsyncUntil is InvokeAsync bounded by a deadline instead of a
// context: a call costs no timer and no context watch. The connection
// sweeps its calls every asyncSweepInterval while any has a deadline, and
// fails those past it with context.DeadlineExceeded, as RocketMQ's clients
// scan their response table; the callback may come up to one interval
// after the deadline. A producer's SendAsync uses it: a timer context and
// its watch per request were 4% of a busy process's CPU. While the write
// queue is full it waits, like InvokeOneway, until the writer catches up
// or the connection closes.
func (c *Conn) InvokeAsyncUntil(deadline time.Time, req *protocol.Command, cb func(*protocol.Command, error)) {
	if !c.cfg.tracker.add() {
		err := c.invokeError(req.Code, ErrConnClosed)
		go cb(nil, err)
		return
	}
	a := &asyncCall{conn: c, code: req.Code, cb: cb, stop: noWatch}
	c.sendAsync(nil, &call{async: a, deadline: deadline}, req)
}

func noWatch() bool { return true }

// sweep fails the InvokeAsyncUntil calls past their deadline and runs
// again after asyncSweepInterval while any such call remains.
func (c *Conn) sweep() {
	now := time.Now()
	var expired []*call
	c.pend.Lock()
	c.pend.sweeping = false
	if c.pend.closed {
		c.pend.Unlock()
		return
	}
	rest := false
	for op, cl := range c.pend.calls {
		if cl.deadline.IsZero() {
			continue
		}
		if now.Before(cl.deadline) {
			rest = true
			continue
		}
		delete(c.pend.calls, op)
		expired = append(expired, cl)
	}
	c.outstanding.Store(int32(len(c.pend.calls)))
	if rest {
		c.armSweepLocked()
	}
	c.pend.Unlock()
	for _, cl := range expired {
		cl.async.complete(callResult{err: context.DeadlineExceeded})
	}
}

// armSweepLocked schedules a sweep unless one is due; c.pend is held.
func (c *Conn) armSweepLocked() {
	if c.pend.sweeping {
		return
	}
	c.pend.sweeping = true
	if c.pend.sweep == nil {
		c.pend.sweep = time.AfterFunc(asyncSweepInterval, c.sweep)
		return
	}
	c.pend.sweep.Reset(asyncSweepInterval)
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

// wait waits for the call's result until ctx ends or deadline passes.
func (c *Conn) wait(ctx context.Context, code int32, cl *call, deadline time.Time) (*protocol.Command, error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if cl.timer == nil {
			cl.timer = time.NewTimer(d)
		} else {
			cl.timer.Reset(d)
		}
		expired = cl.timer.C
	}
	var res callResult
	select {
	case res = <-cl.ch:
	case <-ctx.Done():
		if !c.unregister(cl) {
			res = <-cl.ch // a response or the close got there first
			break
		}
		res.err = ctx.Err()
	case <-expired:
		if !c.unregister(cl) {
			res = <-cl.ch
			break
		}
		res.err = context.DeadlineExceeded
	}
	if cl.timer != nil {
		cl.timer.Stop() // before the call goes back to the pool
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
			c.outstanding.Store(int32(len(c.pend.calls)))
			if !cl.deadline.IsZero() {
				c.armSweepLocked()
			}
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
	c.outstanding.Store(int32(len(c.pend.calls)))
	return true
}

// deliver hands a response to the call waiting for its opaque.
func (c *Conn) deliver(resp *protocol.Command) {
	c.pend.Lock()
	cl := c.pend.calls[resp.Opaque]
	if cl != nil {
		delete(c.pend.calls, resp.Opaque)
		c.outstanding.Store(int32(len(c.pend.calls)))
	}
	c.pend.Unlock()
	if cl != nil && cl.async != nil {
		cl.async.complete(callResult{resp: resp})
		return
	}
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
	if c.pend.sweep != nil {
		c.pend.sweep.Stop()
	}
	c.pend.Unlock()
	for _, cl := range pending {
		if cl.async != nil {
			cl.async.complete(callResult{err: ErrConnClosed})
			continue
		}
		cl.ch <- callResult{err: ErrConnClosed}
	}
	for req := range parked {
		req.release()
	}
}
