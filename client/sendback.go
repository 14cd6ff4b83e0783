package client

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/petrel-mq/petrel/internal/message"
)

// innerProducerGroup is the producer group of a consumer's own sends, as
// the Java client names its instance's inner producer.
const innerProducerGroup = "CLIENT_INNER_PRODUCER"

// retrySender sends a failed message to the group's retry topic when
// CONSUMER_SEND_MSG_BACK fails (the broker that delivered it is down, or
// refuses), as the Java consumer does before it falls back to retrying
// locally. It is a bare Producer on the consumer's client instance: it
// is not registered in heartbeats (no broker ever checks back on it) and
// owns no goroutine, so it needs no Close.
type retrySender struct {
	once sync.Once
	p    *Producer
}

func (r *retrySender) producer(c *PushConsumer) *Producer {
	r.once.Do(func() {
		r.p = &Producer{
			cfg: ProducerConfig{Group: innerProducerGroup, SendTimeout: DefaultSendTimeout, RetryTimes: DefaultRetryTimes,
				CompressOver: DefaultCompressOver, MaxMessageSize: DefaultMaxMessageSize},
			inst: c.inst, log: c.log, selector: NewRoundRobinSelector(), faults: newFaultTracker(),
		}
	})
	return r.p
}

// sendToRetryTopic stores a copy of m in %RETRY%<group>, as RocketMQ's
// consumers do when the send-back fails: same body, flag, tags, keys,
// properties and UNIQ_KEY (so idempotent consumers see one message), the
// original topic in RETRY_TOPIC, the first id in ORIGIN_MESSAGE_ID, delay
// level 3 + reconsume times, and the reconsume times (one more) and their
// limit for the broker, which dead-letters the copy once they run out.
func (c *PushConsumer) sendToRetryTopic(ctx context.Context, m *MessageExt) error {
	props := make(map[string]string, len(m.Properties)+4)
	maps.Copy(props, m.Properties)
	for k := range props {
		if systemProperties[k] {
			delete(props, k)
		}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = m.Topic
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = m.MsgID
	}
	props[message.PropertyReconsumeTime] = strconv.Itoa(int(m.ReconsumeTimes) + 1)
	if c.cfg.MaxReconsumeTimes >= 0 { // negative: the group's limit on the broker
		props[message.PropertyMaxReconsumeTimes] = strconv.Itoa(c.cfg.MaxReconsumeTimes)
	}
	msg := &Message{
		Topic: c.retryTopic(), Body: m.Body, Tags: m.Tags, Keys: m.Keys, ShardingKey: m.ShardingKey,
		Flag: m.Flag, Properties: props, DelayLevel: 3 + int(m.ReconsumeTimes),
	}
	if id := m.Properties[message.PropertyUniqClientMessageID]; id != "" {
		msg.ID = id
	}
	p := c.retry.producer(c)
	out, err := p.prepare([]*Message{msg}, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	defer cancel()
	_, err = p.sendSync(ctx, out)
	return err
}

// retryHeader moves a retry-topic message's RECONSUME_TIME and
// MAX_RECONSUME_TIMES properties into the send header's reconsumeTimes
// and maxReconsumeTimes, as the Java producer does: the broker decides
// from the header whether the message is dead-lettered. It returns the
// message to encode (a copy without those properties) and the header
// values ("" when absent).
func retryHeader(m *Message) (*Message, string, string) {
	if !strings.HasPrefix(m.Topic, RetryTopicPrefix) {
		return m, "", ""
	}
	times, hasTimes := m.Properties[message.PropertyReconsumeTime]
	maxTimes, hasMax := m.Properties[message.PropertyMaxReconsumeTimes]
	if !hasTimes && !hasMax {
		return m, "", ""
	}
	cp := *m
	cp.Properties = maps.Clone(m.Properties)
	delete(cp.Properties, message.PropertyReconsumeTime)
	delete(cp.Properties, message.PropertyMaxReconsumeTimes)
	return &cp, times, maxTimes
}
