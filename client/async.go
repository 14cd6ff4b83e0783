package client

import (
	"context"
	"fmt"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// SendAsync sends msg without waiting for the answer: callback gets the
// result or the error exactly once, on another goroutine. Many sends are
// in flight at once on one connection (pipelining), at most
// MaxAsyncInFlight per producer: SendAsync blocks while that many await
// their answer, until ctx ends. Retries and timeouts are as for Send; ctx
// bounds the whole send including retries. Close waits for the callbacks
// of accepted sends.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, callback func(*SendResult, error)) error {
	if !p.begin() {
		return ErrClosed
	}
	msgs := []*Message{msg}
	spooling := false
	if p.spool != nil {
		n, _ := p.spool.disk.stats()
		spooling = n > 0
	}
	batch := p.acc != nil && !spooling && p.acc.batchable(msg)
	var out *outgoing
	if batch {
		if err := msg.validate(p.cfg.MaxMessageSize); err != nil {
			p.end()
			return err
		}
	} else {
		var err error
		if out, err = p.prepare(msgs, ""); err != nil {
			p.end()
			return err
		}
	}
	if spooling {
		// Behind what is already spooled, to keep the order.
		res, err := p.spoolSend(msgs, out, nil)
		callback(res, err)
		p.end()
		return nil
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		p.end()
		return ctx.Err()
	}
	if batch {
		p.acc.add(ctx, msg, callback)
		return nil
	}
	s := &asyncSend{p: p, out: out, msgs: msgs, parent: ctx, callback: callback}
	s.ctx, s.cancel = context.WithTimeout(ctx, p.cfg.SendTimeout)
	s.attempt()
	return nil
}

// asyncSend is one SendAsync in progress; its attempts run one after the
// other, the next started by the previous one's callback.
type asyncSend struct {
	p      *Producer
	out    *outgoing
	msgs   []*Message      // for the spool
	parent context.Context // the caller's: a cancelled send is not spooled
	ctx    context.Context
	cancel context.CancelFunc // nil with a deadline
	// deadline, if set, bounds the send instead of a timeout in ctx: the
	// attempts' requests end at it through the connection's sweep
	// (remoting's InvokeAsyncUntil), which costs no timer per request.
	// SendAsync's batches, whose only bound is SendTimeout, use it.
	deadline time.Time
	callback func(*SendResult, error)
	count    int // sends (slots and begins) this one carries; 0 means 1

	attempts int
	last     string // broker of the failed attempt
	errs     []error
	mq       MessageQueue
	addr     string
	start    time.Time
}

// attempt starts the next attempt; failures before the request is on the
// wire (no route, a failed dial) move on to the next attempt at once.
func (s *asyncSend) attempt() {
	p := s.p
	for {
		if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
			s.errs = append(s.errs, fmt.Errorf("petrel client: send timeout %v: %w", p.cfg.SendTimeout, context.DeadlineExceeded))
			s.finish(nil)
			return
		}
		s.attempts++
		mq, addr, err := p.aim(s.ctx, s.out, s.last)
		if err != nil {
			s.errs = append(s.errs, err)
			s.finish(nil) // no route: another attempt would find none either
			return
		}
		s.mq, s.addr, s.start = mq, addr, time.Now()
		conn, err := p.inst.rc.Conn(s.ctx, addr)
		if err == nil {
			if s.deadline.IsZero() {
				conn.InvokeAsync(s.ctx, s.out.req, s.done)
			} else {
				conn.InvokeAsyncUntil(s.deadline, s.out.req, s.done)
			}
			return
		}
		err = &BrokerError{Op: protocol.RequestName(s.out.req.Code), Broker: mq.BrokerName, Addr: addr, Err: err}
		p.faults.record(mq.BrokerName, time.Since(s.start), true)
		if !s.failed(err) {
			return
		}
	}
}

// done receives an attempt's response.
func (s *asyncSend) done(resp *protocol.Command, err error) {
	if err != nil {
		err = &BrokerError{Op: protocol.RequestName(s.out.req.Code), Broker: s.mq.BrokerName, Addr: s.addr, Err: err}
	}
	res, err := s.p.result(s.out, s.mq, s.addr, resp, err)
	s.p.faults.record(s.mq.BrokerName, time.Since(s.start), err != nil)
	if err == nil {
		res.Attempts = s.attempts
		s.finish(res)
		return
	}
	if s.failed(err) {
		s.attempt()
	}
}

// failed records a failed attempt and reports whether another follows;
// if not, it finishes the send.
func (s *asyncSend) failed(err error) bool {
	s.errs = append(s.errs, err)
	if s.attempts <= s.p.cfg.RetryTimes && retryable(s.ctx, err) {
		s.last = s.mq.BrokerName
		return true
	}
	s.finish(nil)
	return false
}

// finish reports the outcome and releases the send's slot. With a spool,
// a send no server answered is spooled and reported as SendSpooled.
func (s *asyncSend) finish(res *SendResult) {
	if s.cancel != nil {
		s.cancel()
	}
	n := max(s.count, 1)
	for range n {
		<-s.p.slots
	}
	switch err := (&SendError{Topic: s.out.topic, Attempts: s.errs}); {
	case res != nil:
		s.callback(res, nil)
	case s.p.spool != nil && s.parent.Err() == nil && unanswered(err):
		s.callback(s.p.spoolSend(s.msgs, s.out, err))
	default:
		s.callback(nil, err)
	}
	for range n {
		s.p.end()
	}
}

// SendOneway sends msg and returns once it is written to the connection:
// no answer is awaited, so nothing says whether the broker stored it
// (RocketMQ's oneway mode, for logs and metrics that tolerate loss). Only
// a failed connection is retried, on another broker.
func (p *Producer) SendOneway(ctx context.Context, msg *Message) error {
	if !p.begin() {
		return ErrClosed
	}
	defer p.end()
	out, err := p.prepare([]*Message{msg}, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	defer cancel()
	var errs []error
	last := ""
	for attempt := 0; attempt <= p.cfg.RetryTimes; attempt++ {
		mq, addr, err := p.aim(ctx, out, last)
		if err != nil {
			errs = append(errs, err)
			break
		}
		conn, err := p.inst.rc.Conn(ctx, addr)
		if err == nil {
			err = conn.InvokeOneway(out.req)
		}
		if err == nil {
			return nil
		}
		err = &BrokerError{Op: protocol.RequestName(out.req.Code), Broker: mq.BrokerName, Addr: addr, Err: err}
		p.faults.record(mq.BrokerName, 0, true)
		errs = append(errs, err)
		if !retryable(ctx, err) {
			break
		}
		last = mq.BrokerName
	}
	return &SendError{Topic: out.topic, Attempts: errs}
}
