package broker

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// mqKey renders a MessageQueue as fastjson writes a map key: Java admin
// tools and the Go client parse RocketMQ's maps keyed by MessageQueue in
// this object-key form (not valid JSON, but what they expect).
func mqKey(sb *strings.Builder, brokerName, topic string, queueID int32) {
	fmt.Fprintf(sb, `{"brokerName":%s,"queueId":%d,"topic":%s}`, jsonString(brokerName), queueID, jsonString(topic))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// handleGetConsumeStats is GET_CONSUME_STATS: for each queue of the
// group's topics, the broker's max offset, the group's committed offset
// (their difference is the backlog) and the store time of the last
// consumed message.
func (b *Broker) handleGetConsumeStats(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group := r.String("consumerGroup")
	topic := r.OptString("topic", "")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	topics := []string{topic}
	if topic == "" {
		topics = b.offsets.topicsOf(group)
		sort.Strings(topics)
	}
	var sb strings.Builder
	sb.WriteString(`{"consumeTps":0.0,"offsetTable":{`)
	first := true
	for _, t := range topics {
		tc, ok := b.topics.get(t)
		if !ok {
			continue
		}
		for q := int32(0); q < tc.ReadQueueNums; q++ {
			brokerOffset := b.store.MaxOffset(t, q)
			committed := max(b.offsets.query(t, group, q), 0)
			var last int64
			if committed > 0 {
				last, _ = b.store.StoreTimeAt(t, q, committed-1)
			}
			if !first {
				sb.WriteByte(',')
			}
			first = false
			mqKey(&sb, b.cfg.BrokerName, t, q)
			fmt.Fprintf(&sb, `:{"brokerOffset":%d,"consumerOffset":%d,"lastTimestamp":%d}`, brokerOffset, committed, last)
		}
	}
	sb.WriteString(`}}`)
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = []byte(sb.String())
	return resp
}

type connectionInfo struct {
	ClientID   string `json:"clientId"`
	ClientAddr string `json:"clientAddr"`
	Language   string `json:"language"`
	Version    int32  `json:"version"`
}

type consumerConnection struct {
	ConnectionSet     []connectionInfo                 `json:"connectionSet"`
	SubscriptionTable map[string]body.SubscriptionData `json:"subscriptionTable"`
	ConsumeType       string                           `json:"consumeType"`
	MessageModel      string                           `json:"messageModel"`
	ConsumeFromWhere  string                           `json:"consumeFromWhere"`
}

// handleGetConsumerConnectionList is GET_CONSUMER_CONNECTION_LIST.
func (b *Broker) handleGetConsumerConnectionList(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group := r.String("consumerGroup")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	cc, ok := b.clients.connection(group)
	if !ok {
		return req.Cmd.NewResponse(protocol.ConsumerNotOnline, "the consumer group["+group+"] not online")
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body, _ = json.Marshal(cc)
	return resp
}

// handleQueryTopicConsumeByWho is QUERY_TOPIC_CONSUME_BY_WHO: groups
// subscribed online and groups with offsets on the topic.
func (b *Broker) handleQueryTopicConsumeByWho(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String("topic")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	set := map[string]bool{}
	for _, g := range b.clients.groupsSubscribedTo(topic) {
		set[g] = true
	}
	for _, g := range b.offsets.groupsOf(topic) {
		set[g] = true
	}
	groups := make([]string, 0, len(set))
	for g := range set {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body, _ = json.Marshal(map[string][]string{"groupList": groups})
	return resp
}

// handleResetOffset is INVOKE_BROKER_TO_RESET_OFFSET: set a group's
// offsets on a topic to the first message stored at or after timestamp
// (-1: the end of each queue, 0: the start). Without isForce only
// rewinds apply, as in RocketMQ. The broker's offsets change at once, so
// an offline group is reset too; online clients get
// RESET_CONSUMER_CLIENT_OFFSET and restart their queues there.
func (b *Broker) handleResetOffset(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String("topic")
	group := r.String("group")
	ts := r.Int64("timestamp")
	force := r.OptBool("isForce", true)
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		return req.Cmd.NewResponse(protocol.TopicNotExist, "topic["+topic+"] not exist")
	}
	offsets := make(map[int32]int64, tc.WriteQueueNums)
	var sb strings.Builder
	sb.WriteString(`{"offsetTable":{`)
	for q := int32(0); q < tc.WriteQueueNums; q++ {
		target := b.store.MaxOffset(topic, q)
		if ts >= 0 {
			off, err := b.store.OffsetByTime(topic, q, ts)
			if err != nil {
				return req.Cmd.NewResponse(protocol.SystemError, err.Error())
			}
			target = off
		}
		if committed := b.offsets.query(topic, group, q); !force && committed >= 0 && committed < target {
			target = committed
		}
		offsets[q] = target
		if q > 0 {
			sb.WriteByte(',')
		}
		mqKey(&sb, b.cfg.BrokerName, topic, q)
		sb.WriteString(":" + strconv.FormatInt(target, 10))
	}
	sb.WriteString(`}}`)
	b.offsets.reset(topic, group, offsets, b.now())
	if err := b.offsets.flush(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	payload := []byte(sb.String())
	for _, c := range b.clients.groupConns(group) {
		cmd := protocol.NewRequest(protocol.ResetConsumerClientOffset, protocol.FieldsOf("topic", topic, "group", group,
			"timestamp", strconv.FormatInt(ts, 10), "isForce", strconv.FormatBool(force)), payload)
		if err := c.InvokeOneway(cmd); err != nil {
			b.log.Warn("send reset offset to a client", "group", group, "conn", c, "err", err)
		}
	}
	b.log.Info("consumer offsets reset", "topic", topic, "group", group, "timestamp", ts, "force", force)
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = payload
	return resp
}
