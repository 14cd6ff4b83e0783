package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of SpoolConfig fields left zero.
const (
	DefaultSpoolMaxBytes      = 256 << 20
	DefaultSpoolRetryInterval = time.Second
)

// SpoolConfig turns on the producer's degraded mode: a Send that fails
// because no name server or broker answered (every attempt a connection
// failure, a timeout or no route) is appended to a durable local spool
// and reported as SendSpooled instead of failing. A drainer goroutine of
// the producer resends the spooled sends in order, each message under the
// id (UNIQ_KEY) it was given, as soon as the cluster answers again; a
// producer opened later on the same directory (after a restart or a
// crash) drains what is left.
//
// A send refused by a broker that answered (MESSAGE_ILLEGAL, ...) is not
// spooled: resending it would be refused again. While the spool holds
// anything, Send appends to it without trying the cluster, so sends that
// do not overlap reach the brokers in the order they were made. Send and
// SendAsync use the spool (SendAsync's callback gets SendSpooled);
// SendOneway, which promises nothing, and SendInTransaction, whose half
// message must reach a broker before the local transaction runs, do not.
type SpoolConfig struct {
	// Dir is the spool's directory (required); one producer at a time.
	Dir string
	// MaxBytes bounds the spool's files; a send that does not fit fails
	// with ErrSpoolFull. Zero means 256 MiB.
	MaxBytes int64
	// RetryInterval is how long the drainer waits after a resend failed
	// before trying again. Zero means 1 s.
	RetryInterval time.Duration
	// OnRejected is called (on the drainer's goroutine) with the messages
	// of a spooled send that a broker refused for good, or that this
	// producer cannot send any more (larger than MaxMessageSize); they are
	// then removed from the spool. Nil logs them at error level.
	OnRejected func(msgs []*Message, err error)
}

// producerSpool is a producer's spool and its drainer.
type producerSpool struct {
	cfg  SpoolConfig
	disk *diskSpool
	wake chan struct{} // capacity 1: a record was appended
	done chan struct{} // closed when the drainer returns
}

// SpoolStats returns how many sends wait in the spool and how many bytes
// its files hold; zeros without a spool.
func (p *Producer) SpoolStats() (sends int, bytes int64) {
	if p.spool == nil {
		return 0, 0
	}
	return p.spool.disk.stats()
}

// openSpool opens the configured spool; the drainer starts later
// (startSpool), once the producer can send.
func (p *Producer) openSpool() error {
	cfg := *p.cfg.Spool
	if cfg.Dir == "" {
		return errors.New("petrel client: SpoolConfig.Dir is empty")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultSpoolMaxBytes
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultSpoolRetryInterval
	}
	disk, err := openSpool(cfg.Dir, cfg.MaxBytes, p.log)
	if err != nil {
		return err
	}
	p.spool = &producerSpool{cfg: cfg, disk: disk, wake: make(chan struct{}, 1), done: make(chan struct{})}
	return nil
}

func (p *Producer) startSpool() {
	if n, _ := p.spool.disk.stats(); n > 0 {
		p.log.Info("petrel client: spool holds sends from before; draining", "sends", n, "dir", p.spool.cfg.Dir)
	}
	go p.drainSpool()
}

// closeSpool waits for the drainer (p.closing is cancelled) and closes the
// files; sends in flight have finished.
func (p *Producer) closeSpool() {
	if p.spool == nil {
		return
	}
	<-p.spool.done
	p.spool.disk.close()
}

// sendOrSpool is Send with a spool: spool when the spool is not empty
// (order) or when the cluster did not answer.
func (p *Producer) sendOrSpool(ctx context.Context, msgs []*Message, out *outgoing) (*SendResult, error) {
	if n, _ := p.spool.disk.stats(); n > 0 {
		return p.spoolSend(msgs, out, nil)
	}
	sctx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	defer cancel()
	res, err := p.sendSync(sctx, out)
	if err == nil || ctx.Err() != nil || !unanswered(err) {
		return res, err
	}
	return p.spoolSend(msgs, out, err)
}

// spoolSend appends a send to the spool; cause is why it was not sent.
func (p *Producer) spoolSend(msgs []*Message, out *outgoing, cause error) (*SendResult, error) {
	ids := strings.Split(out.ids, ",")
	saved := make([]Message, len(msgs))
	for i, m := range msgs {
		saved[i] = *m
		saved[i].ID = ids[i]
	}
	payload, err := json.Marshal(saved)
	if err != nil {
		return nil, fmt.Errorf("petrel client: spool: encode: %w", err)
	}
	if err := p.spool.disk.append(payload); err != nil {
		if cause != nil {
			return nil, fmt.Errorf("%w (the send failed: %w)", err, cause)
		}
		return nil, err
	}
	select {
	case p.spool.wake <- struct{}{}:
	default:
	}
	if cause != nil {
		p.log.Warn("petrel client: no broker answered; message spooled", "topic", out.topic, "msgId", out.ids, "err", cause)
	}
	return &SendResult{Status: SendSpooled, MsgID: out.ids, Queue: MessageQueue{Topic: out.topic}}, nil
}

// unanswered reports whether a failed send failed only because nothing
// answered: connection failures, timeouts, no route. A response code from
// a broker means it was reached and refused.
func unanswered(err error) bool {
	var se *SendError
	if !errors.As(err, &se) {
		return false
	}
	for _, a := range se.Attempts {
		if answeredWith(a, func(int32) bool { return true }) {
			return false
		}
	}
	return true
}

// answeredWith reports whether err holds a server's response whose code
// satisfies match.
func answeredWith(err error, match func(int32) bool) bool {
	if be, ok := err.(*BrokerError); ok {
		return be.Err == nil && match(be.Code)
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			return answeredWith(next, match)
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if answeredWith(e, match) {
				return true
			}
		}
	}
	return false
}

// drainSpool is the drainer: it sends the spool's records one at a time,
// in order, until the producer closes. A record the cluster did not take
// stays at the head and is tried again after RetryInterval.
func (p *Producer) drainSpool() {
	defer close(p.spool.done)
	for {
		payload, err := p.spool.disk.peek()
		if err != nil {
			p.log.Error("petrel client: spool unreadable; the drainer stops, the spooled messages stay on disk", "err", err)
			return
		}
		if payload == nil {
			select {
			case <-p.closing.Done():
				return
			case <-p.spool.wake:
				continue
			}
		}
		if !p.drainOne(payload) {
			t := time.NewTimer(p.spool.cfg.RetryInterval)
			select {
			case <-p.closing.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// drainOne sends one spooled record and reports whether it left the spool
// (delivered, or rejected and reported).
func (p *Producer) drainOne(payload []byte) bool {
	var saved []Message
	var out *outgoing
	err := json.Unmarshal(payload, &saved)
	if err == nil {
		msgs := make([]*Message, len(saved))
		for i := range saved {
			msgs[i] = &saved[i]
		}
		out, err = p.prepare(msgs, "")
	}
	if err != nil {
		p.reject(saved, fmt.Errorf("petrel client: spool: cannot resend: %w", err))
		return p.ackSpool(len(payload))
	}
	ctx, cancel := context.WithTimeout(p.closing, p.cfg.SendTimeout)
	res, err := p.sendSync(ctx, out)
	cancel()
	switch {
	case err == nil:
		p.log.Debug("petrel client: spooled message sent", "msgId", res.MsgID, "status", res.Status)
		return p.ackSpool(len(payload))
	case p.closing.Err() != nil, unanswered(err), answeredWith(err, func(c int32) bool { return retryableCodes[c] }):
		p.log.Debug("petrel client: spooled message not sent yet", "msgId", out.ids, "err", err)
		return false
	default:
		p.reject(saved, err)
		return p.ackSpool(len(payload))
	}
}

func (p *Producer) ackSpool(payloadLen int) bool {
	if err := p.spool.disk.ack(payloadLen); err != nil {
		// The record stays at the head and is sent again: a duplicate
		// under the same id, not a loss.
		p.log.Error("petrel client: spool: cannot record a delivery", "err", err)
		return false
	}
	return true
}

func (p *Producer) reject(saved []Message, err error) {
	msgs := make([]*Message, len(saved))
	ids := make([]string, len(saved))
	for i := range saved {
		msgs[i] = &saved[i]
		ids[i] = saved[i].ID
	}
	if f := p.spool.cfg.OnRejected; f != nil {
		f(msgs, err)
		return
	}
	p.log.Error("petrel client: a spooled send was refused; its messages are dropped from the spool", "msgIds", ids, "err", err)
}
