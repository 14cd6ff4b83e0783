package broker

import (
	"strconv"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
)

// Pull request sysFlag bits (PullSysFlag).
const (
	pullCommitOffset = 0x1
	pullSuspend      = 0x2
	pullSubscription = 0x4
)

// Pull batch limits (RocketMQ's maxTransfer*OnMessageInMemory defaults are
// broker.conf keys; the byte limit applies after the first message).
type pullHeader struct {
	group        string
	topic        string
	queueID      int32
	offset       int64
	maxMsgNums   int32
	sysFlag      int32
	commitOffset int64
	suspend      time.Duration
	subscription string
	expression   string
}

func parsePullHeader(cmd *protocol.Command) (pullHeader, error) {
	r := protocol.ReadHeader(cmd)
	h := pullHeader{
		group:        r.String("consumerGroup"),
		topic:        r.String("topic"),
		queueID:      r.Int32("queueId"),
		offset:       r.Int64("queueOffset"),
		maxMsgNums:   r.Int32("maxMsgNums"),
		sysFlag:      r.Int32("sysFlag"),
		commitOffset: r.Int64("commitOffset"),
		suspend:      time.Duration(r.Int64("suspendTimeoutMillis")) * time.Millisecond,
		subscription: r.OptString("subscription", ""),
		expression:   r.OptString("expressionType", body.ExpressionTag),
	}
	return h, r.Err()
}

// pullRequest is a pull being served, possibly again after a long-poll
// wait.
type pullRequest struct {
	req    *remoting.Request
	h      pullHeader
	filter store.MessageFilter
}

// handlePull is PULL_MESSAGE.
func (b *Broker) handlePull(req *remoting.Request) *protocol.Command {
	cmd := req.Cmd
	h, err := parsePullHeader(cmd)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	pr := &pullRequest{req: req, h: h}
	if resp := b.checkPull(pr); resp != nil {
		return resp
	}
	buf := pullBuffers.Get().(*[]byte)
	resp, notFound := b.executePull(pr, *buf)
	if h.sysFlag&pullCommitOffset != 0 {
		b.offsets.commit(h.topic, h.group, h.queueID, h.commitOffset, b.store.MaxOffset(h.topic, h.queueID), b.now())
	}
	if notFound && h.sysFlag&pullSuspend != 0 {
		hold := h.suspend
		if !b.cfg.LongPollingEnable {
			hold = b.cfg.ShortPollingTime
		}
		if hold > 0 && b.holds.park(pr, hold) {
			recyclePullBuffer(buf, resp.Body)
			return nil // answered later by the long-poll hold
		}
	}
	b.replyPull(pr, resp, buf)
	return nil // answered above
}

// pullBuffers recycles the bodies of pull answers. Reply copies an answer
// into the connection's write queue, so its body is free again once Reply
// returns; fresh bodies were a tenth of the bytes a consuming broker
// allocated.
var pullBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPullBuffer is the largest body kept for reuse (the default
// maxTransferBytesOnMessageInMemory is 256 KiB).
const maxPooledPullBuffer = 1 << 20

// recyclePullBuffer returns buf to the pool, keeping body's storage if the
// answer grew it.
func recyclePullBuffer(buf *[]byte, body []byte) {
	if cap(body) > cap(*buf) {
		*buf = body
	}
	if cap(*buf) > maxPooledPullBuffer {
		*buf = nil
	}
	*buf = (*buf)[:0]
	pullBuffers.Put(buf)
}

// replyPull sends a pull's answer and recycles the body buffer it was
// built in.
func (b *Broker) replyPull(pr *pullRequest, resp *protocol.Command, buf *[]byte) {
	if err := pr.req.Reply(resp); err != nil {
		b.log.Debug("reply to a pull", "err", err)
	}
	recyclePullBuffer(buf, resp.Body)
}

// checkPull applies RocketMQ's checks in order and resolves the filter.
func (b *Broker) checkPull(pr *pullRequest) *protocol.Command {
	cmd, h := pr.req.Cmd, &pr.h
	if b.cfg.BrokerPermission&body.PermRead == 0 {
		return cmd.NewResponse(protocol.NoPermission, "the broker["+b.storeHost.String()+"] pulling message is forbidden")
	}
	g, ok, err := b.groups.findOrCreate(h.group)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if !ok {
		return cmd.NewResponse(protocol.SubscriptionGroupNotExist, "subscription group ["+h.group+"] does not exist")
	}
	if !g.ConsumeEnable {
		return cmd.NewResponse(protocol.NoPermission, "subscription group no permission, "+h.group)
	}
	tc, ok := b.topics.get(h.topic)
	if !ok {
		return cmd.NewResponse(protocol.TopicNotExist, "topic["+h.topic+"] not exist, apply first please!")
	}
	if tc.Perm&body.PermRead == 0 {
		return cmd.NewResponse(protocol.NoPermission, "the topic["+h.topic+"] pulling message is forbidden")
	}
	if h.queueID < 0 || h.queueID >= tc.ReadQueueNums {
		return cmd.NewResponse(protocol.SystemError, "queueId["+strconv.Itoa(int(h.queueID))+"] is illegal, topic:["+h.topic+"] topicConfig.readQueueNums:["+strconv.Itoa(int(tc.ReadQueueNums))+"]")
	}
	if h.expression != "" && h.expression != body.ExpressionTag {
		return cmd.NewResponse(protocol.SystemError, "the broker does not support consumer to filter message by "+h.expression)
	}
	if h.sysFlag&pullSubscription != 0 {
		pr.filter = parseTagExpression(h.subscription)
		return nil
	}
	sub, model, registered := b.clients.subscriptionOf(h.group, h.topic)
	if !registered {
		return cmd.NewResponse(protocol.SubscriptionNotExist, "the consumer's group info does not exist")
	}
	if model == body.Broadcasting && !g.ConsumeBroadcastEnable {
		return cmd.NewResponse(protocol.NoPermission, "the consumer group["+h.group+"] can not consume by broadcast way")
	}
	if sub == nil {
		return cmd.NewResponse(protocol.SubscriptionNotExist, "the consumer's subscription does not exist")
	}
	pr.filter = sub.filter
	return nil
}

// executePull reads messages and builds the response, appending the
// records to dst; notFound reports PULL_NOT_FOUND, which a suspending pull
// waits on.
func (b *Broker) executePull(pr *pullRequest, dst []byte) (*protocol.Command, bool) {
	h := &pr.h
	maxCount := int(h.maxMsgNums)
	if maxCount <= 0 {
		maxCount = 1
	}
	maxCount = min(maxCount, b.cfg.MaxTransferCountOnMessageInMemory)
	res := b.store.GetMessages(h.topic, h.queueID, h.offset, maxCount, b.cfg.MaxTransferBytesOnMessageInMemory, pr.filter, dst[:0])
	code := protocol.PullNotFound
	switch res.Status {
	case store.Found:
		code = protocol.Success
	case store.NoMatchedMessage, store.MessageWasRemoving:
		code = protocol.PullRetryImmediately
	case store.NoMatchedLogicQueue, store.NoMessageInQueue:
		if h.offset != 0 {
			code = protocol.PullOffsetMoved
		}
	case store.OffsetOverflowBadly, store.OffsetTooSmall:
		code = protocol.PullOffsetMoved
	}
	resp := pr.req.Cmd.NewResponse(code, res.Status.String())
	resp.Ext.Set("suggestWhichBrokerId", "0")
	resp.Ext.Set("nextBeginOffset", strconv.FormatInt(res.NextBeginOffset, 10))
	resp.Ext.Set("minOffset", strconv.FormatInt(res.MinOffset, 10))
	resp.Ext.Set("maxOffset", strconv.FormatInt(res.MaxOffset, 10))
	if code == protocol.Success {
		resp.Body = res.Buffer
	}
	return resp, code == protocol.PullNotFound
}
