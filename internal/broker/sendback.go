package broker

import (
	"math/rand/v2"
	"strconv"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Properties a dead-lettered message gains, so whoever reads the DLQ knows
// where it came from, how often it failed and when it gave up (RocketMQ 5
// has the first two).
const (
	PropertyDLQOriginTopic     = "DLQ_ORIGIN_TOPIC"
	PropertyDLQOriginMessageID = "DLQ_ORIGIN_MESSAGE_ID"
	PropertyDLQTime            = "DLQ_TIME"
)

// handleSendBack is CONSUMER_SEND_MSG_BACK: a consumer could not process a
// message. It is stored again in %RETRY%<group> with the delay of level
// 3+reconsumeTimes (10 s, 30 s, 1 m, ...) and ReconsumeTimes one higher;
// after maxReconsumeTimes it goes to %DLQ%<group> instead, readable like
// any topic. The Go client ignores this reply's code and acknowledges the
// message, so the copy must be stored before SUCCESS is answered.
func (b *Broker) handleSendBack(req *remoting.Request) *protocol.Command {
	cmd := req.Cmd
	r := protocol.ReadHeader(cmd)
	offset := r.Int64("offset")
	group := r.String("group")
	delayLevel := r.Int32("delayLevel")
	originMsgID := r.OptString("originMsgId", "")
	hasMax := r.Has("maxReconsumeTimes")
	maxTimes := r.OptInt32("maxReconsumeTimes", 16)
	if err := r.Err(); err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	g, ok, err := b.groups.findOrCreate(group)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if !ok {
		return cmd.NewResponse(protocol.SubscriptionGroupNotExist, "subscription group ["+group+"] does not exist")
	}
	if b.cfg.BrokerPermission&body.PermWrite == 0 {
		return cmd.NewResponse(protocol.NoPermission, "the broker["+b.storeHost.String()+"] sending message is forbidden")
	}
	if g.RetryQueueNums <= 0 {
		return cmd.NewResponse(protocol.Success, "") // the group opted out of retries (RocketMQ's behaviour)
	}
	if !hasMax || maxTimes < 0 {
		maxTimes = g.RetryMaxTimes
	}
	rec, err := b.store.ReadMessage(offset, nil)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, "look up the message at offset "+strconv.FormatInt(offset, 10)+": "+err.Error())
	}
	orig := message.Record(rec)
	props := orig.Properties()
	retryTopic, _ := message.LookupProperty(props, message.PropertyRetryTopic)
	if len(retryTopic) == 0 {
		retryTopic = orig.Topic()
	}
	if _, ok := message.LookupProperty(props, message.PropertyOriginMessageID); !ok {
		if originMsgID == "" {
			originMsgID = message.OffsetMsgID(orig.StoreHost(), orig.PhysicalOffset())
		}
	} else {
		originMsgID = ""
	}
	next := message.AppendPropertiesWithout(nil, props, message.PropertyRetryTopic, message.PropertyDelayTimeLevel,
		message.PropertyWaitStoreMsgOK, message.PropertyRealTopic, message.PropertyRealQueueID)
	next = message.AppendProperty(next, message.PropertyRetryTopic, string(retryTopic))
	if originMsgID != "" {
		next = message.AppendProperty(next, message.PropertyOriginMessageID, originMsgID)
	}
	m := message.Message{
		Flag: orig.Flag(), SysFlag: orig.SysFlag(), BornTimestamp: orig.BornTimestamp(), BornHost: orig.BornHost(),
		StoreHost: b.storeHost, ReconsumeTimes: orig.ReconsumeTimes() + 1, Body: orig.Body(),
	}
	if orig.ReconsumeTimes() >= maxTimes || delayLevel < 0 {
		m.Topic = DLQGroupTopicPrefix + group
		if _, err := b.ensureTopic(m.Topic, 1, body.PermRead|body.PermWrite); err != nil {
			return cmd.NewResponse(protocol.SystemError, err.Error())
		}
		next = message.AppendProperty(next, PropertyDLQOriginTopic, string(retryTopic))
		if id, ok := message.LookupProperty(props, message.PropertyUniqClientMessageID); ok {
			next = message.AppendProperty(next, PropertyDLQOriginMessageID, string(id))
		}
		next = message.AppendProperty(next, PropertyDLQTime, strconv.FormatInt(b.now().UnixMilli(), 10))
	} else {
		tc, err := b.ensureTopic(RetryGroupTopicPrefix+group, g.RetryQueueNums, body.PermRead|body.PermWrite)
		if err != nil {
			return cmd.NewResponse(protocol.SystemError, err.Error())
		}
		m.Topic = tc.TopicName
		m.QueueID = rand.Int32N(max(tc.WriteQueueNums, 1))
		if delayLevel == 0 {
			delayLevel = 3 + orig.ReconsumeTimes()
		}
		next = message.AppendProperty(next, message.PropertyDelayTimeLevel, strconv.Itoa(int(delayLevel)))
	}
	m.Properties = next
	if _, err := b.storeMessage(&m); err != nil {
		return storeErrorResponse(cmd, err)
	}
	return cmd.NewResponse(protocol.Success, "")
}
