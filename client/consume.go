package client

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// consumeBatch is one listener call of a concurrent consumer.
type consumeBatch struct {
	pq      *processQueue
	msgs    []*MessageExt
	started time.Time    // set before the batch is visible in pq.inflight
	ctx     *callContext // the listener call's, ended by expireTimedOut
	// settled is set by whoever acts on the outcome first: the worker when
	// the listener returns, or the timeout check when it runs too long.
	settled atomic.Bool
}

// submit queues msgs for the workers in batches of ConsumeBatchSize; false
// if ctx ended first (the queue was dropped or the consumer is closing:
// the messages stay uncommitted and are delivered again).
func (c *PushConsumer) submit(ctx context.Context, pq *processQueue, msgs []*MessageExt) bool {
	for i := 0; i < len(msgs); i += c.cfg.ConsumeBatchSize {
		b := &consumeBatch{pq: pq, msgs: msgs[i:min(i+c.cfg.ConsumeBatchSize, len(msgs))]}
		select {
		case c.tasks <- b:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// worker runs listener calls until the consumer closes; a call in
// progress then finishes first.
func (c *PushConsumer) worker() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case b := <-c.tasks:
			if c.ctx.Err() != nil {
				return // closing: the batch is delivered again later
			}
			c.consume(b)
		}
	}
}

func (c *PushConsumer) consume(b *consumeBatch) {
	pq := b.pq
	if pq.isDropped() {
		return
	}
	b.started = time.Now()
	b.ctx = newCallContext(b.started.Add(c.cfg.ConsumeTimeout))
	pq.lastConsume.Store(b.started.UnixMilli())
	pq.startBatch(b)
	res := c.callListener(b.ctx, b.msgs)
	pq.endBatch(b)
	if !b.settled.CompareAndSwap(false, true) {
		return // timed out: already retried
	}
	c.finish(b.pq, b.msgs, res)
}

// callListener calls the listener, turning a panic into ReconsumeLater.
func (c *PushConsumer) callListener(ctx context.Context, msgs []*MessageExt) (res ConsumeResult) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("petrel client: listener panicked; the messages will be retried", "panic", fmt.Sprint(p), "msgId", msgs[0].MsgID)
			res = ReconsumeLater
		}
	}()
	return c.cfg.Listener(ctx, msgs)
}

// finish acts on a listener's result. Failed messages of a clustering
// group are sent back to the broker (which redelivers them through the
// retry topic, or dead-letters them after MaxReconsumeTimes); if that
// fails, a copy is sent to the retry topic like a new message (through
// any broker that has it); a message for which both fail stays held and
// is consumed again locally after LocalRetryDelay. A broadcasting group drops failed messages, as
// RocketMQ does: there is no per-member retry topic.
func (c *PushConsumer) finish(pq *processQueue, msgs []*MessageExt, res ConsumeResult) {
	if pq.isDropped() {
		return // the queue's new owner gets these messages again
	}
	if res == ConsumeSuccess {
		pq.remove(msgs)
		return
	}
	if c.cfg.Model == Broadcasting {
		c.log.Warn("petrel client: broadcasting consumer dropped failed messages", "queue", pq.mq.String(), "count", len(msgs), "firstMsgId", msgs[0].MsgID)
		pq.remove(msgs)
		return
	}
	var sent, failed []*MessageExt
	for _, m := range msgs {
		if err := c.sendBack(m, 0); err != nil {
			if err2 := c.sendToRetryTopic(c.ctx, m); err2 != nil {
				c.log.Warn("petrel client: send back and send to the retry topic failed; retrying locally", "msgId", m.MsgID, "sendBack", err, "retryTopic", err2)
				failed = append(failed, m)
				continue
			}
			c.log.Info("petrel client: send back failed; sent to the retry topic instead", "msgId", m.MsgID, "err", err)
		}
		sent = append(sent, m)
	}
	if len(sent) > 0 {
		pq.remove(sent)
	}
	if len(failed) > 0 {
		c.retryLocally(pq, failed)
	}
}

// retryLocally consumes msgs again after LocalRetryDelay, counting the
// attempt in ReconsumeTimes.
func (c *PushConsumer) retryLocally(pq *processQueue, msgs []*MessageExt) {
	for _, m := range msgs {
		m.ReconsumeTimes++
	}
	c.wg.Add(1) // the caller is one of c's goroutines: the count is not zero
	go func() {
		defer c.wg.Done()
		if sleepCtx(pq.ctx, c.cfg.LocalRetryDelay) {
			c.submit(pq.ctx, pq, msgs)
		}
	}()
}

// sendBack is CONSUMER_SEND_MSG_BACK for one message to the master of the
// broker it came from. delayLevel 0 lets the broker choose the back-off
// (3 + reconsume times); -1 sends it straight to the DLQ.
func (c *PushConsumer) sendBack(m *MessageExt, delayLevel int) error {
	f := protocol.FieldsOf(
		"offset", strconv.FormatInt(m.CommitLogOffset, 10),
		"group", c.cfg.Group,
		"delayLevel", strconv.Itoa(delayLevel),
		"originMsgId", m.MsgID,
		"originTopic", m.Topic,
		"unitMode", "false",
	)
	if c.cfg.MaxReconsumeTimes >= 0 {
		f.Set("maxReconsumeTimes", strconv.Itoa(c.cfg.MaxReconsumeTimes))
	}
	req := protocol.NewRequest(protocol.ConsumerSendMsgBack, f, nil)
	resp, err := c.inst.invokeBroker(context.Background(), m.Queue.BrokerName, req)
	if err != nil {
		return err
	}
	if resp.Code != protocol.Success {
		return c.inst.codeError(req, m.Queue.BrokerName, resp)
	}
	return nil
}

// expireTimedOut retries the messages of listener calls running past
// ConsumeTimeout, as RocketMQ's cleanExpireMsg does, so one stuck call
// does not hold its queue's offset back forever. The call's eventual
// result is ignored.
func (c *PushConsumer) expireTimedOut() {
	cutoff := time.Now().Add(-c.cfg.ConsumeTimeout)
	for _, pq := range c.table.all() {
		for _, b := range pq.expired(cutoff) {
			b.ctx.expire()
			if !b.settled.CompareAndSwap(false, true) {
				continue
			}
			pq.endBatch(b)
			c.log.Warn("petrel client: listener ran past the consume timeout; retrying its messages",
				"queue", pq.mq.String(), "timeout", c.cfg.ConsumeTimeout, "firstMsgId", b.msgs[0].MsgID)
			// Copies: the listener still holds the originals.
			msgs := make([]*MessageExt, len(b.msgs))
			for i, m := range b.msgs {
				cp := *m
				msgs[i] = &cp
			}
			c.finish(pq, msgs, ReconsumeLater)
		}
	}
}
