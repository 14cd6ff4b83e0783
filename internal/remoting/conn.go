package remoting

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/reuse"
)

const (
	// readBufferSize holds a few typical requests; headers up to this size
	// are decoded straight from the buffer.
	readBufferSize = 16 << 10
	// maxQueuedBytes is how much may wait for the writer before senders
	// block: backpressure against a peer that does not read.
	maxQueuedBytes = 8 << 20
	// maxSpareBuffer is the largest write buffer always kept for reuse, so
	// one large frame does not pin its memory for the connection's
	// lifetime; larger ones are kept only while they are well used.
	maxSpareBuffer = 1 << 20
)

// connIDs numbers connections process-wide.
var connIDs atomic.Uint64

// connConfig is what a Conn takes from the Server or Client that owns it.
type connConfig struct {
	handler     Handler
	logger      *slog.Logger
	maxFrame    int
	idle        time.Duration // <= 0: no idle or write-stall timeout
	maxInFlight int
	inline      func(*protocol.Command) bool // requests served on the reader (Server.Inline)
	recycle     func(*protocol.Command) bool // requests with pooled bodies (Server.RecycleBody)
	tracker     *tracker                     // requests, callbacks: what Shutdown/Close wait for
	onClose     func(c *Conn)                // runs once, after both goroutines exit
}

// Conn is one remoting connection, on the server or the client side.
// Requests can flow both ways: Invoke sends one to the peer; requests from
// the peer go to the owner's Handler.
type Conn struct {
	nc     net.Conn
	id     uint64
	cfg    connConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	closed    chan struct{} // closed when the connection starts closing
	done      chan struct{} // closed after both goroutines exit and onClose ran
	running   atomic.Int32  // goroutines not yet exited

	inFlight chan struct{} // one token per running handler
	// outstanding is len(pend.calls), readable without the lock.
	outstanding atomic.Int32
	handlers    reuse.Pool[*Request]  // handler goroutines
	callbacks   reuse.Pool[asyncDone] // InvokeAsync's callback goroutines

	wsignal chan struct{} // the write queue became non-empty
	// writeDeadline belongs to whoever holds wq.writing.
	writeDeadline lazyDeadline

	// wq is the write queue: frames encoded by any goroutine, waiting for
	// the writer.
	wq struct {
		sync.Mutex
		buf     []byte
		spare   []byte        // the writer's previous buffer, for reuse
		closed  bool          // no more frames accepted
		flush   bool          // close once the queue is written
		wait    chan struct{} // closed when the writer takes the queue
		writing bool          // a goroutine is writing a buffer it took
		failed  error         // a direct write failed; the writer goroutine handles it
	}

	// pend tracks both directions' unfinished requests.
	pend struct {
		sync.Mutex
		closed bool              // no additions: the connection closed
		calls  map[int32]*call   // requests we sent, by opaque
		parked map[*Request]bool // requests from the peer awaiting a later Reply
		// sweep fails InvokeAsyncUntil calls past their deadline; sweeping
		// says it is scheduled.
		sweep    *time.Timer
		sweeping bool
	}

	vals struct {
		sync.Mutex
		m map[any]any
	}
}

func newConn(nc net.Conn, cfg connConfig) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		nc:       nc,
		id:       connIDs.Add(1),
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		inFlight: make(chan struct{}, cfg.maxInFlight),
		wsignal:  make(chan struct{}, 1),
	}
	c.pend.calls = make(map[int32]*call)
	c.pend.parked = make(map[*Request]bool)
	c.handlers = reuse.Pool[*Request]{Do: c.serve, Idle: handlerIdle, Stop: c.closed}
	c.callbacks = reuse.Pool[asyncDone]{Do: asyncDone.run, Idle: handlerIdle, Stop: c.closed}
	c.log = cfg.logger.With("remote", nc.RemoteAddr().String(), "conn", c.id)
	return c
}

// start runs the reader and writer goroutines.
func (c *Conn) start() {
	c.running.Store(2)
	go c.readLoop()
	go c.writeLoop()
}

// ID returns a number unique to this connection within the process.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns this side's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Closed returns a channel closed when the connection closes.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Context returns a context cancelled when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// SetValue attaches a value to the connection under key (the broker keeps
// the client id here); a nil value removes the key.
func (c *Conn) SetValue(key, value any) {
	c.vals.Lock()
	defer c.vals.Unlock()
	if value == nil {
		delete(c.vals.m, key)
		return
	}
	if c.vals.m == nil {
		c.vals.m = make(map[any]any)
	}
	c.vals.m[key] = value
}

// Value returns the value attached under key, or nil.
func (c *Conn) Value(key any) any {
	c.vals.Lock()
	defer c.vals.Unlock()
	return c.vals.m[key]
}

// String names the connection for logs.
func (c *Conn) String() string {
	return fmt.Sprintf("conn %d %s->%s", c.id, c.nc.LocalAddr(), c.nc.RemoteAddr())
}

// Close closes the connection at once: queued frames are dropped, pending
// Invokes fail with ErrConnClosed, parked requests are released.
func (c *Conn) Close() error {
	c.shutdown()
	return nil
}

func (c *Conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.cancel()
		c.nc.Close()
		c.wq.Lock()
		c.wq.closed = true
		c.wq.buf = nil
		if c.wq.wait != nil {
			close(c.wq.wait)
			c.wq.wait = nil
		}
		c.wq.Unlock()
		c.failPending()
	})
}

// closeAfterFlush closes the connection once the frames queued so far (and
// any queued meanwhile) are written.
func (c *Conn) closeAfterFlush() {
	c.wq.Lock()
	c.wq.flush = true
	c.wq.Unlock()
	c.signalWriter()
}

// exit is deferred by both goroutines; the last one finishes the Conn.
func (c *Conn) exit() {
	c.shutdown()
	c.exitKeepReading()
}

// exitKeepReading ends a goroutine without closing the connection (the
// writer after a failed write, while the reader drains).
func (c *Conn) exitKeepReading() {
	if c.running.Add(-1) == 0 {
		if c.cfg.onClose != nil {
			c.cfg.onClose(c)
		}
		close(c.done)
	}
}

// idleReader refreshes the read deadline before reads from the socket, so
// the connection closes after IdleTimeout without a byte, and not while the
// reader is paused for backpressure.
type idleReader struct {
	c  *Conn
	dl lazyDeadline
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.dl.refresh(r.c.cfg.idle, r.c.nc.SetReadDeadline)
	return r.c.nc.Read(p)
}

// lazyDeadline sets a deadline of timeout plus slack (an eighth of the
// timeout), and sets it again only once it is older than the slack, so
// the deadline is at least timeout away whenever an operation starts and
// at most timeout + slack. Setting a deadline updates a runtime timer;
// once per read and per write, that and the clock reads around it took
// about 1-2% of a loaded broker's CPU (docs/benchmarks.md), more when the
// timer last lived on another CPU. The price: an idle connection closes
// up to an eighth of IdleTimeout late.
type lazyDeadline struct {
	at time.Time // when the deadline was last set; zero: never
}

func (l *lazyDeadline) refresh(timeout time.Duration, set func(time.Time) error) {
	if timeout > 0 {
		l.refreshAt(time.Now(), timeout, set)
	}
}

func (l *lazyDeadline) refreshAt(now time.Time, timeout time.Duration, set func(time.Time) error) {
	slack := timeout / 8
	if !l.at.IsZero() && now.Sub(l.at) < slack {
		return
	}
	l.at = now
	set(now.Add(timeout + slack))
}

func (c *Conn) readLoop() {
	defer c.exit()
	br := bufio.NewReaderSize(&idleReader{c: c}, readBufferSize)
	var pooled *[]byte // the body buffer of the frame being read, if pooled
	bodyFor := func(cmd *protocol.Command, n int) []byte {
		if cmd.IsResponse() || c.cfg.recycle == nil || !c.cfg.recycle(cmd) {
			return nil
		}
		if pooled = getBody(n); pooled == nil {
			return nil
		}
		return (*pooled)[:n]
	}
	for {
		pooled = nil
		cmd, err := protocol.ReadFrameInto(br, c.cfg.maxFrame, bodyFor)
		if err != nil {
			if pooled != nil {
				putBody(pooled)
			}
			c.readFailed(err)
			return
		}
		if cmd.IsResponse() {
			c.deliver(cmd)
			continue
		}
		if !c.dispatch(cmd, pooled, br.Buffered() == 0) {
			return
		}
	}
}

// readFailed logs why the reader stops, at a level matching the cause.
func (c *Conn) readFailed(err error) {
	select {
	case <-c.closed:
		return // closed on purpose
	default:
	}
	switch {
	case errors.Is(err, protocol.ErrFrameTooLarge), errors.Is(err, protocol.ErrMalformedFrame):
		c.log.Warn("remoting: closing connection after a bad frame", "reason", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Info("remoting: closing idle connection", "idle", c.cfg.idle)
	case errors.Is(err, io.EOF):
		c.log.Debug("remoting: connection closed by peer")
	default:
		c.log.Debug("remoting: connection read failed", "err", err)
	}
}

// dispatch starts a handler goroutine for a request, waiting for a free
// in-flight slot first. A request Server.Inline picks is served here
// instead if it is alone: nothing more of the peer's is buffered and no
// other request of this connection is being handled, as with a
// synchronous sender. A pipelining peer's requests keep the hand-off, so
// the reader goes on parsing while handlers run and their replies queue
// up for one write (serving those inline too cost pipelined async
// producers about 5%). It returns false if the connection closed.
func (c *Conn) dispatch(cmd *protocol.Command, body *[]byte, alone bool) bool {
	alone = alone && len(c.inFlight) == 0
	req := &Request{Cmd: cmd, Conn: c, body: body}
	if !c.cfg.tracker.add() {
		if body != nil {
			putBody(body)
		}
		// The server is shutting down: refuse new work so Shutdown ends.
		// Clients retry SERVICE_NOT_AVAILABLE sends on another broker.
		if !cmd.IsOneway() {
			c.enqueue(nil, cmd.NewResponse(protocol.ServiceNotAvailable, "server is shutting down"))
		}
		return true
	}
	req.refs.Store(2) // the handler and the reply
	if cmd.IsOneway() {
		// Nothing to reply: only the handler holds the request.
		req.state.Store(requestReplied)
		req.refs.Store(1)
	}
	select {
	case c.inFlight <- struct{}{}:
	case <-c.closed:
		req.release()
		req.settle()
		return false
	}
	if alone && c.cfg.inline != nil && c.cfg.inline(cmd) {
		c.serve(req)
		return true
	}
	c.handlers.Go(req)
	return true
}

// handlerIdle is how long a handler or callback goroutine waits for more
// work before it exits. Reusing goroutines matters on the send path: a
// fresh goroutine starts on a small stack and grows it (a copy each time)
// through the handler's deep call chain, which cost 7% of a busy broker's
// CPU.
const handlerIdle = 2 * time.Second

func (c *Conn) serve(req *Request) {
	resp := c.runHandler(req)
	<-c.inFlight // a parked request holds no slot
	switch {
	case resp != nil:
		if err := req.Reply(resp); err != nil {
			c.log.Debug("remoting: reply not sent", "request", protocol.RequestName(req.Cmd.Code), "err", err)
		}
	case !req.Cmd.IsOneway():
		c.park(req)
	}
	req.settle()
}

// runHandler calls the handler and turns a panic into SYSTEM_ERROR; the
// connection stays up.
func (c *Conn) runHandler(req *Request) (resp *protocol.Command) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("remoting: handler panic", "request", protocol.RequestName(req.Cmd.Code),
				"opaque", req.Cmd.Opaque, "panic", p, "stack", string(debug.Stack()))
			resp = req.Cmd.NewResponse(protocol.SystemError, fmt.Sprint(p))
		}
	}()
	h := c.cfg.handler
	if h == nil {
		return notSupported(req)
	}
	return h.ServeRemoting(req)
}

// park records a request whose handler returned nil, so closing the
// connection can release it.
func (c *Conn) park(req *Request) {
	if req.state.Load() != requestOpen {
		return // replied (or declared unanswered) from inside the handler
	}
	c.pend.Lock()
	if c.pend.closed {
		c.pend.Unlock()
		req.release()
		return
	}
	c.pend.parked[req] = true
	req.parked.Store(true)
	c.pend.Unlock()
	if req.state.Load() != requestOpen { // Reply ran before it saw parked
		c.unpark(req)
	}
}

func (c *Conn) unpark(req *Request) {
	c.pend.Lock()
	delete(c.pend.parked, req)
	c.pend.Unlock()
}

// enqueue encodes cmd into the write queue. It blocks while the queue is
// full, until the writer catches up, ctx ends or the connection closes.
func (c *Conn) enqueue(ctx context.Context, cmd *protocol.Command) error {
	var ctxDone <-chan struct{}
	if ctx != nil {
		ctxDone = ctx.Done()
	}
	c.wq.Lock()
	for len(c.wq.buf) >= maxQueuedBytes && !c.wq.closed {
		if c.wq.wait == nil {
			c.wq.wait = make(chan struct{})
		}
		wait := c.wq.wait
		c.wq.Unlock()
		select {
		case <-wait:
		case <-ctxDone:
			return ctx.Err()
		}
		c.wq.Lock()
	}
	if c.wq.closed {
		c.wq.Unlock()
		return ErrConnClosed
	}
	queued := len(c.wq.buf)
	buf, err := cmd.EncodeFrame(c.wq.buf, c.cfg.maxFrame)
	c.wq.buf = buf
	if err != nil {
		c.wq.Unlock()
		return err
	}
	// A frame alone on its connection (nothing queued, nobody writing, no
	// other request in flight either way) is written from this goroutine:
	// a synchronous exchange then costs no hop to the writer goroutine on
	// either side. Busier connections go through the writer, whose yield
	// lets several frames share one write call.
	direct := queued == 0 && !c.wq.writing && c.wq.failed == nil &&
		len(c.inFlight) <= 1 && c.outstanding.Load() <= 1
	var out []byte
	if direct {
		out = c.takeLocked()
	}
	c.wq.Unlock()
	switch {
	case direct:
		c.write(out)
	case queued == 0:
		c.signalWriter()
	}
	return nil
}

// takeLocked takes the queued frames for writing and marks a write in
// progress; the queue continues in the spare buffer.
func (c *Conn) takeLocked() []byte {
	buf := c.wq.buf
	c.wq.buf, c.wq.spare = c.wq.spare[:0], nil
	c.wq.writing = true
	if c.wq.wait != nil {
		close(c.wq.wait)
		c.wq.wait = nil
	}
	return buf
}

// write writes a buffer taken by takeLocked and ends the write in
// progress. A failure is left to the writer goroutine, which owns the
// connection's fate; so are frames queued during the write.
func (c *Conn) write(buf []byte) {
	c.writeDeadline.refresh(c.cfg.idle, c.nc.SetWriteDeadline)
	_, err := c.nc.Write(buf)
	c.wq.Lock()
	c.wq.writing = false
	if err != nil {
		c.wq.failed = err
	} else if cap(buf) <= maxSpareBuffer || len(buf) >= cap(buf)/16 {
		// A buffer above maxSpareBuffer is kept while the batches still
		// fill a sixteenth of it (a pipelining client), and dropped once
		// the load falls.
		c.wq.spare = buf[:0]
	}
	more := err != nil || len(c.wq.buf) > 0 || c.wq.flush
	c.wq.Unlock()
	if more {
		c.signalWriter()
	}
}

func (c *Conn) signalWriter() {
	select {
	case c.wsignal <- struct{}{}:
	default:
	}
}

// writeLoop writes whatever is queued, one batch per write call.
func (c *Conn) writeLoop() {
	readOn := false
	defer func() {
		if readOn {
			c.exitKeepReading()
		} else {
			c.exit()
		}
	}()
	for {
		select {
		case <-c.wsignal:
		case <-c.closed:
			return
		}
		// Let the goroutines that are about to queue a frame (handlers
		// finishing, senders of a burst) do so first: one write call then
		// carries several frames instead of one each.
		runtime.Gosched()
		for {
			c.wq.Lock()
			if c.wq.closed {
				c.wq.Unlock()
				return
			}
			if err := c.wq.failed; err != nil {
				c.wq.Unlock()
				readOn = c.writeFailed(err)
				return
			}
			if c.wq.writing {
				c.wq.Unlock()
				break // the goroutine writing signals when it is done
			}
			// An empty queue keeps its buffer, so neither buffer is lost
			// to an idle round.
			var buf []byte
			if len(c.wq.buf) > 0 {
				buf = c.takeLocked()
			}
			flushed := c.wq.flush && len(buf) == 0
			c.wq.Unlock()
			if flushed {
				return
			}
			if len(buf) == 0 {
				break
			}
			c.write(buf)
		}
	}
}

// writeFailed decides what a failed write means. A stalled write (the
// peer stopped reading) closes the connection. Any other failure usually
// means the peer closed its end, possibly right after sending requests
// that are still in our read buffer or in flight, such as a consumer's
// last offset commits before it disconnects: then only the write side
// closes (frames queued from now on are dropped) and the reader goes on
// handling what arrives until the stream ends. It reports whether the
// reader should go on.
func (c *Conn) writeFailed(err error) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.log.Info("remoting: closing connection after a stalled write", "err", err)
		return false
	}
	c.log.Debug("remoting: write failed; reading on until the peer closes", "err", err)
	c.wq.Lock()
	c.wq.closed = true
	c.wq.buf = nil
	if c.wq.wait != nil {
		close(c.wq.wait)
		c.wq.wait = nil
	}
	c.wq.Unlock()
	return true
}
