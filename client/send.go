package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// Send sends one message, or several of one topic as a batch (stored
// together in one queue), and waits for the broker's answer. A failed
// attempt is retried (RetryTimes) on another broker when the topic has
// one; the whole send is bounded by SendTimeout or ctx, whichever ends
// first. The status says how durable the stored message is; an error is a
// *SendError whose attempts are *BrokerErrors. With ProducerConfig.Spool,
// a send no server answered is spooled instead: status SendSpooled.
func (p *Producer) Send(ctx context.Context, msgs ...*Message) (*SendResult, error) {
	if !p.begin() {
		return nil, ErrClosed
	}
	defer p.end()
	out, err := p.prepare(msgs, "")
	if err != nil {
		return nil, err
	}
	if p.spool != nil {
		return p.sendOrSpool(ctx, msgs, out)
	}
	// SendTimeout as a deadline, not a context.WithTimeout: no context and
	// timer per send (the remoting wait uses a pooled timer).
	return p.sendSyncUntil(ctx, out, time.Now().Add(p.cfg.SendTimeout))
}

// outgoing is a send request built once and re-aimed at each attempt.
type outgoing struct {
	topic string
	first *Message // what selectors see
	req   *protocol.Command
	ids   string // UNIQ_KEY(s)
}

// Indices of the per-attempt fields in the request header.
const (
	fieldQueueID = 4
	fieldBname   = 11
)

// prepare validates msgs and builds the request: SEND_MESSAGE_V2 for one
// message (the Java client's default, with one-letter field names),
// SEND_BATCH_MESSAGE for several. extraProps are added to a single
// message's properties (the transaction markers).
func (p *Producer) prepare(msgs []*Message, group string, extraProps ...string) (*outgoing, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no message", ErrInvalidMessage)
	}
	for _, m := range msgs {
		if err := m.validate(p.cfg.MaxMessageSize); err != nil {
			return nil, err
		}
	}
	first := msgs[0]
	var reconsumeTimes, maxReconsumeTimes string
	if len(msgs) == 1 {
		first, reconsumeTimes, maxReconsumeTimes = retryHeader(first)
	}
	out := &outgoing{topic: first.Topic, first: first}
	var (
		code    = protocol.SendMessageV2
		sysFlag int32
		props   []byte
		payload = first.Body
	)
	if len(msgs) == 1 {
		out.ids = idOf(first)
		props = first.appendProperties(make([]byte, 0, 128), out.ids, extraProps...)
		if p.cfg.CompressOver > 0 && len(first.Body) >= p.cfg.CompressOver {
			payload = deflate(first.Body)
			sysFlag |= message.FlagCompressed
		}
	} else {
		var err error
		code = protocol.SendBatchMessage
		if payload, out.ids, err = p.batchBody(msgs); err != nil {
			return nil, err
		}
	}
	if len(props) > message.MaxPropertiesLength {
		return nil, fmt.Errorf("%w: the properties are %d bytes, more than %d", ErrInvalidMessage, len(props), message.MaxPropertiesLength)
	}
	if group == "" {
		group = p.cfg.Group
	}
	// The order matches fieldQueueID and fieldBname.
	ext := protocol.Fields{
		{Key: "a", Value: group},
		{Key: "b", Value: first.Topic},
		{Key: "c", Value: defaultTopic},
		{Key: "d", Value: strconv.Itoa(defaultTopicQueueNums)},
		{Key: "e", Value: "-1"},
		{Key: "f", Value: strconv.Itoa(int(sysFlag))},
		{Key: "g", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
		{Key: "h", Value: strconv.Itoa(int(first.Flag))},
		{Key: "i", Value: string(props)},
		{Key: "j", Value: "0"},
		{Key: "k", Value: "false"},
		{Key: "n", Value: ""},
	}
	if code == protocol.SendBatchMessage {
		ext = append(ext, protocol.Field{Key: "m", Value: "true"})
	}
	if reconsumeTimes != "" {
		ext.Set("j", reconsumeTimes)
	}
	if maxReconsumeTimes != "" {
		ext = append(ext, protocol.Field{Key: "l", Value: maxReconsumeTimes})
	}
	out.req = protocol.NewRequest(code, ext, payload)
	// The binary header costs both sides less than JSON: no escaping of
	// the properties' separators, no quoting (Java brokers read it too).
	out.req.SerializeType = protocol.RocketMQ
	return out, nil
}

// idOf returns the message's UNIQ_KEY: its own ID or a fresh one.
func idOf(m *Message) string {
	if m.ID != "" {
		return m.ID
	}
	return uniqIDGen.next()
}

// batchBody encodes a batch: one topic, no delays, every item with its
// own UNIQ_KEY (as the Java client does; the Go client sets none).
func (p *Producer) batchBody(msgs []*Message) ([]byte, string, error) {
	topic := msgs[0].Topic
	ids := make([]string, len(msgs))
	size := 0
	for _, m := range msgs {
		if m.Topic != topic {
			return nil, "", fmt.Errorf("%w: a batch has one topic; got %s and %s", ErrInvalidMessage, topic, m.Topic)
		}
		if m.DelayLevel > 0 || !m.DeliverAt.IsZero() {
			return nil, "", fmt.Errorf("%w: a batch cannot hold delayed messages", ErrInvalidMessage)
		}
		size += len(m.Body) + 128
	}
	buf := make([]byte, 0, size)
	var props []byte
	for i, m := range msgs {
		ids[i] = idOf(m)
		props = m.appendProperties(props[:0], ids[i])
		if len(props) > message.MaxPropertiesLength {
			return nil, "", fmt.Errorf("%w: message %d's properties are %d bytes, more than %d", ErrInvalidMessage, i, len(props), message.MaxPropertiesLength)
		}
		buf = message.AppendBatchItem(buf, message.BatchItem{Flag: m.Flag, Body: m.Body, Properties: props})
	}
	if len(buf) > p.cfg.MaxMessageSize {
		return nil, "", fmt.Errorf("%w: the batch is %d bytes, more than %d", ErrInvalidMessage, len(buf), p.cfg.MaxMessageSize)
	}
	return buf, strings.Join(ids, ","), nil
}

// aim picks the queue and broker of the next attempt and sets them in the
// request.
func (p *Producer) aim(ctx context.Context, out *outgoing, lastBroker string) (MessageQueue, string, error) {
	route, err := p.inst.publishRoute(ctx, out.topic)
	if err != nil {
		return MessageQueue{}, "", err
	}
	mq := p.selector.Select(out.first, route.publish, SelectHint{LastBroker: lastBroker, Available: p.faults.available})
	addr, ok := p.inst.brokerAddr(mq.BrokerName)
	if !ok {
		return mq, "", fmt.Errorf("%w %s: broker %s has no master address", ErrNoRoute, out.topic, mq.BrokerName)
	}
	out.req.Ext[fieldQueueID].Value = strconv.Itoa(mq.QueueID)
	out.req.Ext[fieldBname].Value = mq.BrokerName
	return mq, addr, nil
}

// sendSync runs the attempts of a synchronous send, bounded by ctx.
func (p *Producer) sendSync(ctx context.Context, out *outgoing) (*SendResult, error) {
	return p.sendSyncUntil(ctx, out, time.Time{})
}

// sendSyncUntil runs the attempts of a synchronous send, bounded by ctx and
// by deadline (zero: none).
func (p *Producer) sendSyncUntil(ctx context.Context, out *outgoing, deadline time.Time) (*SendResult, error) {
	var errs []error
	last := ""
	for attempt := 0; attempt <= p.cfg.RetryTimes; attempt++ {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			errs = append(errs, fmt.Errorf("petrel client: send timeout %v: %w", p.cfg.SendTimeout, context.DeadlineExceeded))
			break
		}
		mq, addr, err := p.aim(ctx, out, last)
		if err != nil {
			errs = append(errs, err)
			break
		}
		start := time.Now()
		resp, err := p.inst.invokeUntil(ctx, mq.BrokerName, addr, out.req, deadline)
		res, err := p.result(out, mq, addr, resp, err)
		p.faults.record(mq.BrokerName, time.Since(start), err != nil)
		if err == nil {
			res.Attempts = attempt + 1
			if res.Status == SendOK || !p.cfg.RetryAnotherBrokerWhenNotStoreOK || attempt == p.cfg.RetryTimes {
				return res, nil
			}
			p.log.Warn("petrel client: stored but not durable; retrying on another broker", "status", res.Status, "broker", mq.BrokerName)
			last = mq.BrokerName
			continue
		}
		errs = append(errs, err)
		if !retryable(ctx, err) {
			break
		}
		last = mq.BrokerName
	}
	return nil, &SendError{Topic: out.topic, Attempts: errs}
}

// result turns a send response into a SendResult or a *BrokerError.
func (p *Producer) result(out *outgoing, mq MessageQueue, addr string, resp *protocol.Command, err error) (*SendResult, error) {
	if err != nil {
		return nil, err
	}
	status, ok := statusOf(resp.Code)
	if !ok {
		return nil, &BrokerError{Op: protocol.RequestName(out.req.Code), Broker: mq.BrokerName, Addr: addr, Code: resp.Code, Remark: resp.Remark}
	}
	res := &SendResult{
		Status:        status,
		MsgID:         out.ids,
		OffsetMsgID:   resp.Ext.Get("msgId"),
		Queue:         mq,
		TransactionID: resp.Ext.Get("transactionId"),
		RegionID:      resp.Ext.Get(message.PropertyMsgRegion),
		BrokerAddr:    addr,
	}
	if q, err := strconv.Atoi(resp.Ext.Get("queueId")); err == nil {
		res.Queue.QueueID = q
	}
	res.QueueOffset, _ = strconv.ParseInt(resp.Ext.Get("queueOffset"), 10, 64)
	return res, nil
}
