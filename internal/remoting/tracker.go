package remoting

import (
	"errors"
	"sync"
)

// Errors of the remoting layer.
var (
	// ErrServerClosed is returned by Server.Serve after Shutdown or Close.
	ErrServerClosed = errors.New("remoting: server closed")
	// ErrConnClosed is wrapped by errors of calls on a closed connection,
	// including calls pending when it closed.
	ErrConnClosed = errors.New("remoting: connection closed")
	// ErrClientClosed is returned by calls on a closed Client.
	ErrClientClosed = errors.New("remoting: client closed")
	// ErrAlreadyReplied is returned by a second Request.Reply.
	ErrAlreadyReplied = errors.New("remoting: request already replied")
)

// tracker counts work in flight (requests not yet finished, callbacks and
// dials running) so Shutdown and Close can wait for it without a helper
// goroutine. Once draining it refuses new work.
type tracker struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     chan struct{} // closed when n reaches zero while draining
}

// add counts one more piece of work; false once the tracker drains.
func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.n++
	return true
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// drain refuses new work from now on and returns a channel closed when the
// work in flight is done.
func (t *tracker) drain() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining = true
	if t.idle == nil {
		t.idle = make(chan struct{})
		if t.n == 0 {
			close(t.idle)
			ch := t.idle
			t.idle = nil
			return ch
		}
	}
	return t.idle
}
