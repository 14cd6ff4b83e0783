package broker

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
)

// sendHeader is SendMessageRequestHeader: SEND_MESSAGE uses the long field
// names, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE the one-letter ones.
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	maxReconsumeTimes     int32
	hasMaxReconsumeTimes  bool
}

var sendFieldNames = [2][12]string{
	{"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag", "bornTimestamp", "flag", "properties", "reconsumeTimes", "maxReconsumeTimes", "batch"},
	{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "l", "m"},
}

func parseSendHeader(cmd *protocol.Command) (sendHeader, error) {
	n := &sendFieldNames[0]
	if cmd.Code != protocol.SendMessage && cmd.Code != protocol.SendReplyMessage {
		n = &sendFieldNames[1]
	}
	r := protocol.ReadHeader(cmd)
	h := sendHeader{
		producerGroup:         r.String(n[0]),
		topic:                 r.String(n[1]),
		defaultTopic:          r.OptString(n[2], TopicDefault),
		defaultTopicQueueNums: r.OptInt32(n[3], 4),
		queueID:               r.Int32(n[4]),
		sysFlag:               r.Int32(n[5]),
		bornTimestamp:         r.Int64(n[6]),
		flag:                  r.Int32(n[7]),
		properties:            r.OptString(n[8], ""),
		reconsumeTimes:        r.OptInt32(n[9], 0),
		hasMaxReconsumeTimes:  r.Has(n[10]),
		maxReconsumeTimes:     r.OptInt32(n[10], 16),
	}
	return h, r.Err()
}

// handleSend is SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE.
func (b *Broker) handleSend(req *remoting.Request) *protocol.Command {
	cmd := req.Cmd
	h, err := parseSendHeader(cmd)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	tc, resp := b.checkSend(cmd, &h)
	if resp != nil {
		return resp
	}
	// Read-only view: everything below only reads props (a copy was
	// a tenth of handleSend's CPU).
	props := unsafe.Slice(unsafe.StringData(h.properties), len(h.properties))
	if len(props) > message.MaxPropertiesLength {
		return cmd.NewResponse(protocol.MessageIllegal, fmt.Sprintf("the properties are %d bytes, more than %d", len(props), message.MaxPropertiesLength))
	}
	if cmd.Code == protocol.SendBatchMessage {
		return b.sendBatch(req, &h, tc, props)
	}
	if len(cmd.Body) > b.cfg.MaxMessageSize {
		return cmd.NewResponse(protocol.MessageIllegal, fmt.Sprintf("the message body is %d bytes, more than maxMessageSize %d", len(cmd.Body), b.cfg.MaxMessageSize))
	}
	half := isTrue(props, message.PropertyTransactionPrepared) || message.TransactionType(h.sysFlag) == message.TransactionPreparedType
	if t := message.TransactionType(h.sysFlag); !half && t != message.TransactionNotType {
		return cmd.NewResponse(protocol.MessageIllegal, fmt.Sprintf("sysFlag transaction type %d is the broker's to set; send a half message (TRAN_MSG=true) and END_TRANSACTION", t))
	}
	m := message.Message{
		Topic:          h.topic,
		QueueID:        h.queueID,
		Flag:           h.flag,
		SysFlag:        h.sysFlag,
		BornTimestamp:  h.bornTimestamp,
		BornHost:       addrPortOf(req.Conn.RemoteAddr()),
		StoreHost:      b.storeHost,
		ReconsumeTimes: h.reconsumeTimes,
		Body:           cmd.Body,
	}
	group, toRetry := strings.CutPrefix(h.topic, RetryGroupTopicPrefix)
	if toRetry && !half {
		dlq, resp := b.retryExhausted(cmd, group, &h)
		if resp != nil {
			return resp
		}
		if dlq {
			m.Topic, m.QueueID = h.topic, h.queueID
			props = message.AppendPropertiesWithout(nil, props, message.PropertyDelayTimeLevel,
				message.PropertyTimerDeliverMS, message.PropertyTimerDelaySec, message.PropertyTimerDelayMS)
		}
	}
	buf := getPropsBuffer()
	defer putPropsBuffer(buf)
	*buf = b.storedProperties((*buf)[:0], props)
	m.Properties = *buf
	if half {
		return b.sendHalf(req, &h, &m)
	}
	queueID := m.QueueID
	res, err := b.storeMessage(&m)
	if err != nil {
		return storeErrorResponse(cmd, err)
	}
	return b.sendResponse(cmd, res, queueID, message.OffsetMsgID(b.storeHost, res.PhysOffset))
}

// retryExhausted is RocketMQ's handleRetryAndDLQ for a message a client
// sends straight to %RETRY%<group> (the Java consumer does so when
// CONSUMER_SEND_MSG_BACK fails): once its reconsume times reach the
// group's retryMaxTimes, or the header's maxReconsumeTimes when given, it
// goes to %DLQ%<group> instead, at once. RocketMQ 4.x kept such a
// message's delay level (its properties were set after the check, so the
// DLQ copy was delayed first); petrel drops it.
func (b *Broker) retryExhausted(cmd *protocol.Command, group string, h *sendHeader) (bool, *protocol.Command) {
	g, ok, err := b.groups.findOrCreate(group)
	if err != nil {
		return false, cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if !ok {
		return false, cmd.NewResponse(protocol.SubscriptionGroupNotExist, "subscription group ["+group+"] does not exist")
	}
	maxTimes := g.RetryMaxTimes
	if h.hasMaxReconsumeTimes {
		maxTimes = h.maxReconsumeTimes
	}
	if h.reconsumeTimes < maxTimes {
		return false, nil
	}
	h.topic, h.queueID = DLQGroupTopicPrefix+group, 0
	if _, err := b.ensureTopic(h.topic, 1, body.PermRead|body.PermWrite); err != nil {
		return false, cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return true, nil
}

func isTrue(props []byte, name string) bool {
	v, _ := message.LookupProperty(props, name)
	return strings.EqualFold(string(v), "true")
}

// storedProperties appends the properties as stored: WAIT removed, the
// cluster name added (as RocketMQ 4.9 does).
func (b *Broker) storedProperties(dst, props []byte) []byte {
	dst = message.AppendPropertiesWithout(dst, props, message.PropertyWaitStoreMsgOK, message.PropertyCluster)
	return message.AppendProperty(dst, message.PropertyCluster, b.cfg.BrokerClusterName)
}

var propsPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getPropsBuffer() *[]byte  { return propsPool.Get().(*[]byte) }
func putPropsBuffer(b *[]byte) { propsPool.Put(b) }

// checkSend applies RocketMQ's checks before a message is stored; a
// non-nil response refuses the send. On success it returns the topic's
// config and sets h.queueID to a valid queue.
func (b *Broker) checkSend(cmd *protocol.Command, h *sendHeader) (body.TopicConfig, *protocol.Command) {
	if b.cfg.BrokerPermission&body.PermWrite == 0 {
		return body.TopicConfig{}, cmd.NewResponse(protocol.NoPermission, fmt.Sprintf("the broker[%s] sending message is forbidden", b.storeHost))
	}
	if err := message.ValidateTopic(h.topic); err != nil {
		return body.TopicConfig{}, cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if notAllowedToSend[h.topic] {
		return body.TopicConfig{}, cmd.NewResponse(protocol.NoPermission, "sending message to topic["+h.topic+"] is forbidden")
	}
	tc, ok := b.topics.get(h.topic)
	if !ok {
		var err error
		tc, ok, err = b.autoCreateTopic(h)
		if err != nil {
			return tc, cmd.NewResponse(protocol.SystemError, err.Error())
		}
		if !ok {
			return tc, cmd.NewResponse(protocol.TopicNotExist, "topic["+h.topic+"] not exist, apply first please!")
		}
	}
	if tc.Perm&body.PermWrite == 0 {
		return tc, cmd.NewResponse(protocol.NoPermission, "the topic["+h.topic+"] sending message is forbidden")
	}
	queues := max(tc.ReadQueueNums, tc.WriteQueueNums)
	if h.queueID >= queues {
		return tc, cmd.NewResponse(protocol.SystemError, fmt.Sprintf("request queueId[%d] is illegal, topic %s has %d queues", h.queueID, h.topic, queues))
	}
	if h.queueID < 0 {
		if tc.WriteQueueNums <= 0 {
			return tc, cmd.NewResponse(protocol.NoPermission, "topic["+h.topic+"] has no writable queue")
		}
		h.queueID = rand.Int32N(tc.WriteQueueNums)
	}
	return tc, nil
}

// autoCreateTopic creates a topic on first send from its default topic
// (TBW102), as RocketMQ does: the default must be inheritable, the new
// topic gets min(requested, default's) queues and the default's
// permission without inheritance. Retry topics are created with the
// group's retry queue count. The name servers learn the topic before the
// send is answered.
func (b *Broker) autoCreateTopic(h *sendHeader) (body.TopicConfig, bool, error) {
	if group, ok := strings.CutPrefix(h.topic, RetryGroupTopicPrefix); ok {
		g, ok, err := b.groups.findOrCreate(group)
		if err != nil || !ok {
			return body.TopicConfig{}, false, err
		}
		tc, err := b.ensureTopic(h.topic, g.RetryQueueNums, body.PermRead|body.PermWrite)
		return tc, err == nil, err
	}
	def, ok := b.topics.get(h.defaultTopic)
	if !ok || def.Perm&body.PermInherit == 0 || (h.defaultTopic == TopicDefault && !b.cfg.AutoCreateTopicEnable) {
		return body.TopicConfig{}, false, nil
	}
	n := min(h.defaultTopicQueueNums, def.WriteQueueNums)
	if n <= 0 {
		return body.TopicConfig{}, false, nil
	}
	tc, err := b.ensureTopic(h.topic, n, def.Perm&^body.PermInherit)
	return tc, err == nil, err
}

// ensureTopic creates a topic unless it exists, registering a new one with
// the name servers before returning.
func (b *Broker) ensureTopic(name string, queues int32, perm int32) (body.TopicConfig, error) {
	tc, created, err := b.topics.createIfAbsent(body.TopicConfig{
		TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: "SINGLE_TAG",
	})
	if err != nil {
		return tc, fmt.Errorf("create topic %s: %w", name, err)
	}
	if created {
		b.log.Info("topic created", "topic", name, "queues", queues, "perm", perm)
		b.registerNow()
	}
	return tc, nil
}

// sendResponse builds the reply of a stored message.
func (b *Broker) sendResponse(cmd *protocol.Command, res store.PutResult, queueID int32, msgID string) *protocol.Command {
	code := protocol.Success
	if res.Status == store.FlushDiskTimeout {
		code = protocol.FlushDiskTimeout
	}
	resp := cmd.NewResponse(code, "")
	resp.Ext = make(protocol.Fields, 0, 6) // one allocation, not four as it grows
	resp.Ext.Set("msgId", msgID)
	resp.Ext.Set("queueId", strconv.Itoa(int(queueID)))
	resp.Ext.Set("queueOffset", strconv.FormatInt(res.QueueOffset, 10))
	resp.Ext.Set(message.PropertyMsgRegion, b.cfg.RegionID)
	resp.Ext.Set(message.PropertyTraceSwitch, strconv.FormatBool(b.cfg.TraceOn))
	return resp
}

// sendBatch stores a SEND_BATCH_MESSAGE body: each item becomes its own
// message with the batch's topic, queue, flags and born data, and the
// batch-level properties appended to its own.
func (b *Broker) sendBatch(req *remoting.Request, h *sendHeader, tc body.TopicConfig, batchProps []byte) *protocol.Command {
	cmd := req.Cmd
	if len(cmd.Body) > b.cfg.MaxMessageSize {
		return cmd.NewResponse(protocol.MessageIllegal, fmt.Sprintf("the batch is %d bytes, more than maxMessageSize %d", len(cmd.Body), b.cfg.MaxMessageSize))
	}
	if message.TransactionType(h.sysFlag) != message.TransactionNotType || isTrue(batchProps, message.PropertyTransactionPrepared) {
		return cmd.NewResponse(protocol.MessageIllegal, "a batch cannot hold transactional messages")
	}
	if v, ok := message.LookupProperty(batchProps, message.PropertyDelayTimeLevel); ok && string(v) != "0" {
		return cmd.NewResponse(protocol.MessageIllegal, "a batch cannot be delayed")
	}
	for _, p := range timerInputProperties {
		if _, ok := message.LookupProperty(batchProps, p); ok {
			return cmd.NewResponse(protocol.MessageIllegal, "a batch cannot be delayed ("+p+")")
		}
	}
	if strings.HasPrefix(h.topic, RetryGroupTopicPrefix) {
		return cmd.NewResponse(protocol.MessageIllegal, "a batch cannot be sent to a retry topic")
	}
	bornHost := addrPortOf(req.Conn.RemoteAddr())
	shared := b.storedProperties(nil, batchProps)
	var msgs []message.Message
	err := message.RangeBatch(cmd.Body, func(it message.BatchItem) error {
		props := message.AppendPropertiesWithout(nil, it.Properties, message.PropertyWaitStoreMsgOK)
		props = append(props, shared...)
		if len(props) > message.MaxPropertiesLength {
			return fmt.Errorf("a message's properties are %d bytes, more than %d", len(props), message.MaxPropertiesLength)
		}
		msgs = append(msgs, message.Message{
			Topic: h.topic, QueueID: h.queueID, Flag: it.Flag, SysFlag: h.sysFlag, BornTimestamp: h.bornTimestamp,
			BornHost: bornHost, StoreHost: b.storeHost, ReconsumeTimes: h.reconsumeTimes, Body: it.Body, Properties: props,
		})
		return nil
	})
	if err != nil {
		return cmd.NewResponse(protocol.MessageIllegal, "bad batch: "+err.Error())
	}
	res, err := b.store.PutBatch(msgs)
	if err != nil {
		return storeErrorResponse(cmd, err)
	}
	ids := make([]byte, 0, 33*len(msgs))
	phys := res.PhysOffset
	for i := range msgs {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = message.AppendOffsetMsgID(ids, b.storeHost, phys)
		phys += int64(msgs[i].EncodedSize())
	}
	return b.sendResponse(cmd, res, h.queueID, string(ids))
}

// addrPortOf converts a connection's address for BORNHOST.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
