package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// Orderly consumption: a queue is consumed only by the member holding its
// lock on the queue's broker (LOCK_BATCH_MQ, renewed every 20 s; brokers
// expire a lock 60 s after its last renewal), and by one goroutine, which
// pulls a batch, hands it to the listener in order and pulls again once
// the batch is done. ReconsumeLater retries the batch in place after
// SuspendCurrentQueueTime; a message that failed MaxReconsumeTimes times
// is sent back with delay level -1, which puts it in the group's DLQ, so
// one poison message does not block its queue forever.

// lockBody is the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body.
type lockBody struct {
	ConsumerGroup string      `json:"consumerGroup"`
	ClientID      string      `json:"clientId"`
	MQSet         []wireQueue `json:"mqSet"`
}

// wireQueue is a MessageQueue as RocketMQ's JSON spells it.
type wireQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int    `json:"queueId"`
}

func (w wireQueue) queue() MessageQueue {
	return MessageQueue{Topic: w.Topic, BrokerName: w.BrokerName, QueueID: w.QueueID}
}

// lockOnBroker locks mqs (all of one broker) and returns those now held.
func (c *PushConsumer) lockOnBroker(ctx context.Context, brokerName string, mqs []MessageQueue) (map[MessageQueue]bool, error) {
	req := protocol.NewRequest(protocol.LockBatchMQ, nil, c.lockPayload(mqs))
	resp, err := c.inst.invokeBroker(ctx, brokerName, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != protocol.Success {
		return nil, c.inst.codeError(req, brokerName, resp)
	}
	var ok struct {
		LockOKMQSet []wireQueue `json:"lockOKMQSet"`
	}
	if err := json.Unmarshal(resp.Body, &ok); err != nil {
		return nil, fmt.Errorf("petrel client: LOCK_BATCH_MQ answer: %w", err)
	}
	held := make(map[MessageQueue]bool, len(ok.LockOKMQSet))
	for _, w := range ok.LockOKMQSet {
		held[w.queue()] = true
	}
	return held, nil
}

func (c *PushConsumer) lockPayload(mqs []MessageQueue) []byte {
	b := lockBody{ConsumerGroup: c.cfg.Group, ClientID: c.inst.clientID, MQSet: make([]wireQueue, len(mqs))}
	for i, mq := range mqs {
		b.MQSet[i] = wireQueue{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: mq.QueueID}
	}
	p, _ := json.Marshal(b)
	return p
}

// lockQueue locks one queue before it is consumed.
func (c *PushConsumer) lockQueue(pq *processQueue) bool {
	held, err := c.lockOnBroker(c.ctx, pq.mq.BrokerName, []MessageQueue{pq.mq})
	if err != nil {
		c.log.Warn("petrel client: lock queue", "queue", pq.mq.String(), "err", err)
		return false
	}
	pq.setLocked(held[pq.mq])
	return held[pq.mq]
}

// lockOwned renews the locks of every owned queue; a queue whose lock is
// lost stops being consumed until it is locked again.
func (c *PushConsumer) lockOwned() {
	byBroker := make(map[string][]*processQueue)
	for _, pq := range c.table.all() {
		byBroker[pq.mq.BrokerName] = append(byBroker[pq.mq.BrokerName], pq)
	}
	for broker, pqs := range byBroker {
		mqs := make([]MessageQueue, len(pqs))
		for i, pq := range pqs {
			mqs[i] = pq.mq
		}
		held, err := c.lockOnBroker(c.ctx, broker, mqs)
		if err != nil {
			c.log.Warn("petrel client: renew queue locks", "broker", broker, "err", err)
			continue // consumption goes on until the lock is older than LockMaxLiveTime
		}
		for _, pq := range pqs {
			pq.setLocked(held[pq.mq])
		}
	}
}

// unlockQueues releases locks (on Close and when a queue is lost).
func (c *PushConsumer) unlockQueues(ctx context.Context, mqs []MessageQueue) {
	byBroker := make(map[string][]MessageQueue)
	for _, mq := range mqs {
		byBroker[mq.BrokerName] = append(byBroker[mq.BrokerName], mq)
	}
	for broker, qs := range byBroker {
		req := protocol.NewRequest(protocol.UnlockBatchMQ, nil, c.lockPayload(qs))
		if _, err := c.inst.invokeBroker(ctx, broker, req); err != nil {
			c.log.Warn("petrel client: unlock queues", "broker", broker, "err", err)
		}
	}
}

// orderlyLoop pulls and consumes one queue in order.
func (c *PushConsumer) orderlyLoop(pq *processQueue) {
	defer c.wg.Done()
	defer close(pq.done)
	ctx := pq.ctx
	for ctx.Err() == nil {
		if !c.lockFresh(pq) && !c.lockQueue(pq) {
			sleepCtx(ctx, c.cfg.SuspendCurrentQueueTime)
			continue
		}
		pq.pulling()
		res, err := c.pullQueue(ctx, pq)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("petrel client: pull failed; retrying", "queue", pq.mq.String(), "err", err)
			sleepCtx(ctx, pullErrorBackoff)
			continue
		}
		c.handlePullResult(pq, res)
		if !pq.whileBusy(func() bool {
			for i := 0; i < len(res.msgs); i += c.cfg.ConsumeBatchSize {
				if !c.consumeInOrder(ctx, pq, res.msgs[i:min(i+c.cfg.ConsumeBatchSize, len(res.msgs))]) {
					return false
				}
			}
			return true
		}) {
			return
		}
	}
}

// consumeInOrder runs the listener on a batch until it succeeds or its
// messages are dead-lettered; false if ctx ended first (the batch stays
// uncommitted and is consumed again by the queue's next owner).
func (c *PushConsumer) consumeInOrder(ctx context.Context, pq *processQueue, msgs []*MessageExt) bool {
	for {
		if !c.awaitLock(ctx, pq) {
			return false
		}
		pq.lastConsume.Store(time.Now().UnixMilli())
		res := c.callOrderlyWatched(pq, msgs)
		if res == ConsumeSuccess {
			pq.remove(msgs)
			return true
		}
		if c.cfg.MaxReconsumeTimes >= 0 && int(msgs[0].ReconsumeTimes) >= c.cfg.MaxReconsumeTimes {
			if c.deadLetter(msgs) {
				pq.remove(msgs)
				return true
			}
		}
		for _, m := range msgs {
			m.ReconsumeTimes++
		}
		if !sleepCtx(ctx, c.cfg.SuspendCurrentQueueTime) {
			return false
		}
	}
}

// lockFresh reports whether pq's lock may be consumed under: held, and
// renewed within LockMaxLiveTime (RocketMQ's rebalanceLockMaxLiveTime,
// 30 s, half the broker's 60 s expiry). A member that cannot renew its
// locks (cut off from the broker) stops consuming well before another
// member may take the queue over.
func (c *PushConsumer) lockFresh(pq *processQueue) bool {
	return pq.isLocked() && time.Since(time.UnixMilli(pq.lastLock.Load())) <= c.cfg.LockMaxLiveTime
}

// awaitLock makes sure pq's lock is fresh before a batch is consumed,
// locking it again as needed and pausing SuspendCurrentQueueTime between
// attempts; false if ctx ended first (the batch stays held).
func (c *PushConsumer) awaitLock(ctx context.Context, pq *processQueue) bool {
	for !c.lockFresh(pq) {
		if c.lockQueue(pq) {
			return true
		}
		pq.relockFailures.Add(1)
		if !sleepCtx(ctx, c.cfg.SuspendCurrentQueueTime) {
			return false
		}
	}
	return true
}

// callOrderlyWatched calls the orderly listener with ConsumeTimeout as its
// ctx deadline. A call past it is logged, once, and waited for: unlike a
// concurrent consumer's, an orderly batch cannot be retried beside the
// call still running without breaking the queue's order (RocketMQ does
// not time orderly calls out either). The queue resumes when the
// listener returns, which a listener minding its ctx does at the deadline.
func (c *PushConsumer) callOrderlyWatched(pq *processQueue, msgs []*MessageExt) ConsumeResult {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConsumeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.DeadlineExceeded {
			pq.overdue.Add(1)
			c.log.Error("petrel client: orderly listener is running past the consume timeout; its queue waits for it",
				"queue", pq.mq.String(), "timeout", c.cfg.ConsumeTimeout, "firstMsgId", msgs[0].MsgID)
		}
	})
	defer stop()
	return c.callOrderly(ctx, msgs)
}

// deadLetter sends msgs back with delay level -1 (straight to the DLQ);
// false if any could not be sent, so the batch is retried rather than
// lost.
func (c *PushConsumer) deadLetter(msgs []*MessageExt) bool {
	for _, m := range msgs {
		if err := c.sendBack(m, -1); err != nil {
			c.log.Warn("petrel client: could not dead-letter an orderly message; retrying it", "msgId", m.MsgID, "err", err)
			return false
		}
		c.log.Warn("petrel client: orderly message dead-lettered after max reconsume times", "msgId", m.MsgID, "times", m.ReconsumeTimes)
	}
	return true
}

func (c *PushConsumer) callOrderly(ctx context.Context, msgs []*MessageExt) (res ConsumeResult) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("petrel client: orderly listener panicked; suspending the queue", "panic", fmt.Sprint(p), "msgId", msgs[0].MsgID)
			res = ReconsumeLater
		}
	}()
	return c.cfg.Orderly(ctx, msgs)
}
