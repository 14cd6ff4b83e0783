package client

import (
	"context"
	"sync"
	"time"
)

// callContext is a concurrent listener call's context: its deadline is
// ConsumeTimeout after the call starts, but it has no timer of its own.
// A consumer makes one per listener call, and a timer each
// (context.WithTimeout) was 7% of the CPU of a backlog drain. The
// consumer's timeout watch (expireTimedOut, at least every second) already
// finds calls past their deadline; it ends their context then, so Done
// closes at most one watch interval after Deadline.
type callContext struct {
	deadline time.Time

	mu   sync.Mutex
	done chan struct{} // made on first use
	err  error
}

func newCallContext(deadline time.Time) *callContext { return &callContext{deadline: deadline} }

func (c *callContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *callContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	return c.done
}

func (c *callContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callContext) Value(any) any { return nil }

// expire ends the context with DeadlineExceeded.
func (c *callContext) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = context.DeadlineExceeded
	if c.done != nil {
		close(c.done)
	}
}

var _ context.Context = (*callContext)(nil)
