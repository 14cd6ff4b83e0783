package remoting

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// ClientOptions configures a Client; zero fields take defaults.
type ClientOptions struct {
	// Handler answers requests the server sends on a client connection
	// (NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, ...); nil
	// answers them REQUEST_CODE_NOT_SUPPORTED.
	Handler Handler
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// DialTimeout bounds each dial; zero means DefaultDialTimeout (3 s).
	DialTimeout time.Duration
	// MaxFrameSize bounds frames; zero means protocol.DefaultMaxFrameSize.
	MaxFrameSize int
	// IdleTimeout closes a connection that receives nothing for this long,
	// or up to an eighth longer (it is re-dialled on the next call); zero
	// means DefaultIdleTimeout, negative disables.
	IdleTimeout time.Duration
}

// Client invokes requests on remoting servers, keeping one connection per
// address: dialled on first use, dialled again after it fails.
type Client struct {
	cfg         connConfig
	dialTimeout time.Duration
	dialCtx     context.Context // cancelled by Close to abort dials
	cancelDials context.CancelFunc
	tracker     tracker // handlers, callbacks, dials

	mu     sync.Mutex
	closed bool
	conns  map[string]*clientConn
}

// clientConn is the connection to one address, or its dial in progress.
type clientConn struct {
	ready chan struct{} // closed when the dial ends
	conn  *Conn         // set before ready closes, if the dial worked
	err   error
}

// NewClient returns a client; it dials nothing until the first call.
func NewClient(opts ClientOptions) *Client {
	c := &Client{dialTimeout: opts.DialTimeout, conns: make(map[string]*clientConn)}
	if c.dialTimeout <= 0 {
		c.dialTimeout = DefaultDialTimeout
	}
	c.dialCtx, c.cancelDials = context.WithCancel(context.Background())
	c.cfg = connConfig{
		handler:     opts.Handler,
		logger:      opts.Logger,
		maxFrame:    opts.MaxFrameSize,
		idle:        opts.IdleTimeout,
		maxInFlight: DefaultMaxInFlightPerConn,
		tracker:     &c.tracker,
		onClose:     c.connClosed,
	}
	if c.cfg.logger == nil {
		c.cfg.logger = slog.Default()
	}
	if c.cfg.maxFrame <= 0 {
		c.cfg.maxFrame = protocol.DefaultMaxFrameSize
	}
	if c.cfg.idle == 0 {
		c.cfg.idle = DefaultIdleTimeout
	}
	return c
}

// Invoke sends req to addr and waits for the response (see Conn.Invoke).
// The wait, including any dial, ends with ctx.
func (c *Client) Invoke(ctx context.Context, addr string, req *protocol.Command) (*protocol.Command, error) {
	return c.InvokeUntil(ctx, addr, req, time.Time{})
}

// InvokeUntil is Invoke whose wait for the response also ends at deadline
// (see Conn.InvokeUntil).
func (c *Client) InvokeUntil(ctx context.Context, addr string, req *protocol.Command, deadline time.Time) (*protocol.Command, error) {
	conn, err := c.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return conn.InvokeUntil(ctx, req, deadline)
}

// Start sends req to addr and returns without waiting for the response
// (see Conn.Start). It blocks while dialling.
func (c *Client) Start(ctx context.Context, addr string, req *protocol.Command) (*Pending, error) {
	conn, err := c.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return conn.Start(ctx, req)
}

// InvokeAsync sends req to addr and calls cb exactly once, on another
// goroutine, with the response or the error. It blocks while dialling.
func (c *Client) InvokeAsync(ctx context.Context, addr string, req *protocol.Command, cb func(*protocol.Command, error)) {
	conn, err := c.Conn(ctx, addr)
	if err != nil {
		go cb(nil, err)
		return
	}
	conn.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req to addr with the ONEWAY flag and does not wait.
func (c *Client) InvokeOneway(ctx context.Context, addr string, req *protocol.Command) error {
	conn, err := c.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return conn.InvokeOneway(req)
}

// Conn returns the open connection to addr, dialling it if needed. Callers
// asking for the same address meanwhile share one dial.
func (c *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("remoting: connect to %s: %w", addr, ErrClientClosed)
	}
	e := c.conns[addr]
	if e != nil {
		select {
		case <-e.ready:
			if e.err != nil || isClosed(e.conn) {
				e = nil // a stale entry its conn has not removed yet
			}
		default:
		}
	}
	if e == nil {
		e = &clientConn{ready: make(chan struct{})}
		c.conns[addr] = e
		c.tracker.add()
		go c.dial(addr, e)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("remoting: connect to %s: %w", addr, ctx.Err())
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.conn, nil
}

func isClosed(c *Conn) bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// dial runs on its own goroutine so a caller giving up does not cancel a
// dial other callers wait for.
func (c *Client) dial(addr string, e *clientConn) {
	defer c.tracker.done()
	d := net.Dialer{Timeout: c.dialTimeout}
	nc, err := d.DialContext(c.dialCtx, "tcp", addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		e.err = fmt.Errorf("remoting: connect to %s: %w", addr, err)
	case c.closed:
		nc.Close()
		e.err = fmt.Errorf("remoting: connect to %s: %w", addr, ErrClientClosed)
	default:
		e.conn = newConn(nc, c.cfg)
		e.conn.start()
	}
	if e.err != nil && c.conns[addr] == e {
		delete(c.conns, addr) // the next call dials again
	}
	close(e.ready)
}

func (c *Client) connClosed(conn *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, e := range c.conns {
		if e.conn == conn {
			delete(c.conns, addr)
			return
		}
	}
}

// Close closes every connection (pending calls fail with ErrConnClosed),
// aborts dials and waits for handlers, callbacks and dials to finish.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var conns []*Conn
	for _, e := range c.conns {
		select {
		case <-e.ready:
			if e.conn != nil {
				conns = append(conns, e.conn)
			}
		default:
		}
	}
	c.mu.Unlock()
	c.cancelDials()
	for _, conn := range conns {
		conn.Close()
	}
	for _, conn := range conns {
		<-conn.done
	}
	<-c.tracker.drain()
	return nil
}
