package client

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
)

// Message is a message to send.
type Message struct {
	// Topic is required: 1 to 127 characters from [%|a-zA-Z0-9_-].
	Topic string
	// Body is required and at most MaxMessageSize bytes.
	Body []byte
	// Tags is the tag consumers filter on (TAGS).
	Tags string
	// Keys are business keys, indexed by the broker for queries (KEYS).
	Keys []string
	// Properties are user properties, stored and delivered with the
	// message. Names must not contain 0x01 or 0x02.
	Properties map[string]string
	// DelayLevel, 1 to 18 with the default levels (1 s ... 2 h), delays
	// delivery (DELAY); 0 delivers at once.
	DelayLevel int
	// DeliverAt, if set, delivers the message at this time (TIMER_DELIVER_MS,
	// RocketMQ 5's timer messages). Not with DelayLevel.
	DeliverAt time.Time
	// ShardingKey picks the queue when the producer uses HashSelector, so
	// messages of one key keep their order (SHARDING_KEY).
	ShardingKey string
	// Flag is an application flag stored verbatim.
	Flag int32
	// ID, if set, is the message's unique id (UNIQ_KEY) instead of a fresh
	// one per send: a message resent under the id it was first given (from
	// an outbox row or the spool) is one message to consumers that
	// deduplicate by id. NewMessageID makes one. Delivered messages carry
	// theirs in MessageExt.MsgID, not here.
	ID string
}

// NewMessage returns a message for topic with body.
func NewMessage(topic string, body []byte) *Message {
	return &Message{Topic: topic, Body: body}
}

// MessageQueue names one queue of a topic on one broker.
type MessageQueue struct {
	Topic      string
	BrokerName string
	QueueID    int
}

// String formats the queue as topic@broker#queue.
func (q MessageQueue) String() string {
	return q.Topic + "@" + q.BrokerName + "#" + strconv.Itoa(q.QueueID)
}

// MessageExt is a stored message as a broker delivers it (to consumers,
// and to transaction checks).
type MessageExt struct {
	Message
	// MsgID is the client's unique id (UNIQ_KEY), or OffsetMsgID when the
	// producer set none.
	MsgID string
	// OffsetMsgID is the broker's id: store host and commit-log offset.
	OffsetMsgID string
	// TransactionID is set for transactional messages.
	TransactionID             string
	Queue                     MessageQueue
	QueueOffset               int64
	CommitLogOffset           int64
	SysFlag                   int32
	BornTimestamp             time.Time
	BornHost                  netip.AddrPort
	StoreTimestamp            time.Time
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
}

// Property returns a stored property (user or system) of the message.
func (m *MessageExt) Property(name string) string { return m.Properties[name] }

// decodeMessages decodes stored records (a pull body, a check body) into
// messages of brokerName. Compressed bodies are inflated; a body that does
// not inflate is kept as stored, as the official clients do.
func decodeMessages(records []byte, brokerName string) ([]*MessageExt, error) {
	exts, err := message.DecodeAll(records)
	if err != nil {
		return nil, err
	}
	out := make([]*MessageExt, 0, len(exts))
	for _, e := range exts {
		out = append(out, messageExtOf(e, brokerName))
	}
	return out, nil
}

func messageExtOf(e *message.Ext, brokerName string) *MessageExt {
	props := e.Properties
	m := &MessageExt{
		Message: Message{
			Topic: e.Topic, Body: e.Body, Flag: e.Flag, Tags: props[message.PropertyTags],
			ShardingKey: props[message.PropertyShardingKey], Properties: props,
		},
		OffsetMsgID:               e.MsgID(),
		Queue:                     MessageQueue{Topic: e.Topic, BrokerName: brokerName, QueueID: int(e.QueueID)},
		QueueOffset:               e.QueueOffset,
		CommitLogOffset:           e.PhysicalOffset,
		SysFlag:                   e.SysFlag,
		BornTimestamp:             time.UnixMilli(e.BornTimestamp),
		BornHost:                  e.BornHost,
		StoreTimestamp:            time.UnixMilli(e.StoreTimestamp),
		StoreHost:                 e.StoreHost,
		ReconsumeTimes:            e.ReconsumeTimes,
		PreparedTransactionOffset: e.PreparedTransactionOffset,
	}
	if k := props[message.PropertyKeys]; k != "" {
		m.Keys = strings.Fields(k)
	}
	if v := props[message.PropertyDelayTimeLevel]; v != "" { // Atoi("") allocates its error
		if d, err := strconv.Atoi(v); err == nil {
			m.DelayLevel = d
		}
	}
	m.MsgID = props[message.PropertyUniqClientMessageID]
	if m.MsgID == "" {
		m.MsgID = m.OffsetMsgID
	}
	if strings.EqualFold(props[message.PropertyTransactionPrepared], "true") {
		m.TransactionID = m.MsgID
	}
	if e.SysFlag&message.FlagCompressed != 0 {
		if b, err := inflate(e.Body); err == nil {
			m.Body = b
		}
	}
	return m
}

// systemProperties are set from Message fields; user properties with
// these names are refused so a message cannot contradict itself.
var systemProperties = map[string]bool{
	message.PropertyKeys: true, message.PropertyTags: true, message.PropertyDelayTimeLevel: true,
	message.PropertyUniqClientMessageID: true, message.PropertyTimerDeliverMS: true,
	message.PropertyShardingKey: true, message.PropertyTransactionPrepared: true,
	message.PropertyProducerGroup: true,
}

// maxIDLength bounds Message.ID (generated ids are 32 characters).
const maxIDLength = 128

// validate checks a message before it is sent.
func (m *Message) validate(maxSize int) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if err := message.ValidateTopic(m.Topic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if len(m.Body) == 0 {
		return fmt.Errorf("%w: the body is empty", ErrInvalidMessage)
	}
	if len(m.Body) > maxSize {
		return fmt.Errorf("%w: the body is %d bytes, more than %d", ErrInvalidMessage, len(m.Body), maxSize)
	}
	if len(m.ID) > maxIDLength || strings.ContainsAny(m.ID, "\x01\x02") {
		return fmt.Errorf("%w: the id is longer than %d bytes or contains a separator", ErrInvalidMessage, maxIDLength)
	}
	if m.DelayLevel < 0 {
		return fmt.Errorf("%w: delay level %d is negative", ErrInvalidMessage, m.DelayLevel)
	}
	if m.DelayLevel > 0 && !m.DeliverAt.IsZero() {
		return fmt.Errorf("%w: set DelayLevel or DeliverAt, not both", ErrInvalidMessage)
	}
	for k, v := range m.Properties {
		if k == "" || strings.ContainsAny(k, "\x01\x02") || strings.ContainsAny(v, "\x01\x02") {
			return fmt.Errorf("%w: property %q contains a separator or is empty", ErrInvalidMessage, k)
		}
		if systemProperties[k] {
			return fmt.Errorf("%w: property %s is set from the Message fields", ErrInvalidMessage, k)
		}
	}
	return nil
}

// appendProperties encodes the message's properties, with uniqKey (if
// not empty) and extra system pairs.
func (m *Message) appendProperties(dst []byte, uniqKey string, extra ...string) []byte {
	if m.Tags != "" {
		dst = message.AppendProperty(dst, message.PropertyTags, m.Tags)
	}
	if len(m.Keys) > 0 {
		dst = message.AppendProperty(dst, message.PropertyKeys, strings.Join(m.Keys, message.KeySeparator))
	}
	if m.DelayLevel > 0 {
		dst = message.AppendProperty(dst, message.PropertyDelayTimeLevel, strconv.Itoa(m.DelayLevel))
	}
	if !m.DeliverAt.IsZero() {
		dst = message.AppendProperty(dst, message.PropertyTimerDeliverMS, strconv.FormatInt(m.DeliverAt.UnixMilli(), 10))
	}
	if m.ShardingKey != "" {
		dst = message.AppendProperty(dst, message.PropertyShardingKey, m.ShardingKey)
	}
	if uniqKey != "" {
		dst = message.AppendProperty(dst, message.PropertyUniqClientMessageID, uniqKey)
	}
	for k, v := range m.Properties {
		if v != "" {
			dst = message.AppendProperty(dst, k, v)
		}
	}
	return message.EncodeProperties(dst, extra...)
}

// zlibWriters recycles compressors: a zlib writer holds about 256 KiB.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, compressLevel)
	return w
}}

// compressLevel is the official clients' zlib level.
const compressLevel = 5

// deflate compresses a body with zlib, as the official clients do for
// single messages at or above their 4 KiB threshold.
func deflate(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body) / 2)
	w := zlibWriters.Get().(*zlib.Writer)
	w.Reset(&buf)
	w.Write(body) // a bytes.Buffer does not fail
	w.Close()
	zlibWriters.Put(w)
	return buf.Bytes()
}

// maxInflatedBody bounds a decompressed body: a broker stores bodies of at
// most maxMessageSize (4 MiB) compressed, and a corrupt or hostile one
// must not make a consumer allocate gigabytes.
const maxInflatedBody = 64 << 20

// errBodyTooLarge reports a compressed body that inflates past
// maxInflatedBody.
var errBodyTooLarge = errors.New("petrel client: compressed body inflates past 64 MiB")

func inflate(b []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxInflatedBody+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxInflatedBody {
		return nil, errBodyTooLarge
	}
	return out, nil
}
