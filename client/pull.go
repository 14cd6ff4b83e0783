package client

import (
	"context"
	"strconv"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// Pull request flags (RocketMQ's PullSysFlag).
const (
	pullFlagCommitOffset = 0x1 // store commitOffset as the group's offset
	pullFlagSuspend      = 0x2 // the broker may hold the pull until messages arrive
	pullFlagSubscription = 0x4 // filter with the request's expression
)

// pullResult is one PULL_MESSAGE answer.
type pullResult struct {
	code     int32 // SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY or PULL_OFFSET_MOVED
	next     int64 // nextBeginOffset
	min, max int64
	msgs     []*MessageExt // SUCCESS only, already filtered by tag
}

// pullArgs are a pull's inputs.
type pullArgs struct {
	group        string
	mq           MessageQueue
	sub          *subscription
	offset       int64
	maxNums      int
	commitOffset int64 // > 0: commit it with the pull (clustering)
	suspend      time.Duration
}

// pull sends PULL_MESSAGE to the master of the queue's broker. The
// subscription always travels with the request (SUBSCRIPTION flag), so a
// pull works before the broker has the group's heartbeat. Any code other
// than the four pull answers is an error.
func (in *instance) pull(ctx context.Context, a pullArgs) (*pullResult, error) {
	flag := int32(pullFlagSubscription)
	if a.suspend > 0 {
		flag |= pullFlagSuspend
	}
	if a.commitOffset > 0 {
		flag |= pullFlagCommitOffset
	}
	req := protocol.NewRequest(protocol.PullMessage, protocol.FieldsOf(
		"consumerGroup", a.group,
		"topic", a.mq.Topic,
		"queueId", strconv.Itoa(a.mq.QueueID),
		"queueOffset", strconv.FormatInt(a.offset, 10),
		"maxMsgNums", strconv.Itoa(a.maxNums),
		"sysFlag", strconv.Itoa(int(flag)),
		"commitOffset", strconv.FormatInt(max(a.commitOffset, 0), 10),
		"suspendTimeoutMillis", strconv.FormatInt(a.suspend.Milliseconds(), 10),
		"subscription", a.sub.expr,
		"subVersion", "0",
		"expressionType", "TAG",
	), nil)
	addr, ok := in.brokerAddr(a.mq.BrokerName)
	if !ok {
		// The route may not be cached (a queue assigned by hand).
		if _, err := in.topicRoute(ctx, a.mq.Topic); err == nil {
			addr, ok = in.brokerAddr(a.mq.BrokerName)
		}
	}
	if !ok {
		return nil, &BrokerError{Op: "PULL_MESSAGE", Broker: a.mq.BrokerName, Err: ErrNoRoute}
	}
	// The broker answers by the end of the suspension; allow a margin.
	ctx, cancel := context.WithTimeout(ctx, a.suspend+pullTimeoutMargin)
	defer cancel()
	resp, err := in.invoke(ctx, a.mq.BrokerName, addr, req)
	if err != nil {
		return nil, err
	}
	switch resp.Code {
	case protocol.Success, protocol.PullNotFound, protocol.PullRetryImmediately, protocol.PullOffsetMoved:
	default:
		return nil, &BrokerError{Op: "PULL_MESSAGE", Broker: a.mq.BrokerName, Addr: addr, Code: resp.Code, Remark: resp.Remark}
	}
	res := &pullResult{code: resp.Code}
	res.next, _ = strconv.ParseInt(resp.Ext.Get("nextBeginOffset"), 10, 64)
	res.min, _ = strconv.ParseInt(resp.Ext.Get("minOffset"), 10, 64)
	res.max, _ = strconv.ParseInt(resp.Ext.Get("maxOffset"), 10, 64)
	if resp.Code != protocol.Success {
		return res, nil
	}
	msgs, err := decodeMessages(resp.Body, a.mq.BrokerName)
	if err != nil {
		return nil, &BrokerError{Op: "PULL_MESSAGE", Broker: a.mq.BrokerName, Addr: addr, Err: err}
	}
	res.msgs = msgs[:0]
	for _, m := range msgs {
		// The record's queue is the stored one; name the queue pulled.
		m.Queue = a.mq
		if a.sub.matches(m) {
			restoreRetryTopic(m)
			res.msgs = append(res.msgs, m)
		}
	}
	return res, nil
}

// sleepCtx waits d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pullLoop is a push consumer's goroutine for one concurrent queue: it
// long-polls the broker while flow control allows and hands what it gets
// to the consume workers. It ends when the queue is dropped or the
// consumer closes.
func (c *PushConsumer) pullLoop(pq *processQueue) {
	defer c.wg.Done()
	defer close(pq.done)
	ctx := pq.ctx
	for ctx.Err() == nil {
		if !pq.whileBusy(func() bool {
			return pq.waitSpace(ctx, c.cfg.PullThresholdForQueue, int64(c.cfg.PullThresholdSizeForQueue))
		}) {
			return
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
		if len(res.msgs) > 0 && !pq.whileBusy(func() bool { return c.submit(ctx, pq, res.msgs) }) {
			return
		}
	}
}

// pullQueue pulls from pq's next offset, committing its offset with the
// pull in clustering mode (the broker stores it, saving an update).
func (c *PushConsumer) pullQueue(ctx context.Context, pq *processQueue) (*pullResult, error) {
	var commit int64
	if c.cfg.Model == Clustering {
		commit = pq.commitOffset()
	}
	res, err := c.inst.pull(ctx, pullArgs{group: c.cfg.Group, mq: pq.mq, sub: pq.sub, offset: pq.nextOffset(),
		maxNums: c.cfg.PullBatchSize, commitOffset: commit, suspend: brokerSuspendTime})
	if err == nil && commit > 0 {
		pq.markCommitted(commit)
	}
	return res, err
}

// handlePullResult records the result in pq. OFFSET_MOVED (the offset was
// out of the queue's range, e.g. messages removed by retention) restarts
// at the broker's suggestion; when nothing is held the new offset is
// committed at once, as RocketMQ does, so a restart does not repeat it.
func (c *PushConsumer) handlePullResult(pq *processQueue, res *pullResult) {
	switch res.code {
	case protocol.Success, protocol.PullNotFound, protocol.PullRetryImmediately:
		pq.add(res.msgs, res.next)
	case protocol.PullOffsetMoved:
		c.log.Warn("petrel client: pull offset illegal; moving on", "queue", pq.mq.String(),
			"offset", pq.nextOffset(), "next", res.next, "min", res.min, "max", res.max)
		pq.setNext(res.next)
		if n, _ := pq.held(); n == 0 {
			ctx, cancel := context.WithTimeout(pq.ctx, c.inst.cfg.RequestTimeout)
			if err := c.offsets.commit(ctx, pq.mq, res.next); err == nil {
				pq.markCommitted(res.next)
			}
			cancel()
		}
	}
}
