package broker

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// maxQueueNums bounds a topic's queues: each queue is a directory of files.
const maxQueueNums = 1024

// handleCreateTopic is UPDATE_AND_CREATE_TOPIC. The name servers learn the
// topic before the reply, so clients can route to it at once.
func (b *Broker) handleCreateTopic(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	tc := body.TopicConfig{
		TopicName:       r.String("topic"),
		ReadQueueNums:   r.Int32("readQueueNums"),
		WriteQueueNums:  r.Int32("writeQueueNums"),
		Perm:            r.Int32("perm"),
		TopicFilterType: r.OptString("topicFilterType", "SINGLE_TAG"),
		TopicSysFlag:    r.OptInt32("topicSysFlag", 0),
		Order:           r.OptBool("order", false),
	}
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if err := message.ValidateTopic(tc.TopicName); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if isSystemTopic(tc.TopicName, b.cfg) {
		return req.Cmd.NewResponse(protocol.SystemError, "the topic["+tc.TopicName+"] is conflict with system topic")
	}
	if tc.ReadQueueNums < 1 || tc.ReadQueueNums > maxQueueNums || tc.WriteQueueNums < 1 || tc.WriteQueueNums > maxQueueNums {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("queue numbers must be 1..%d, got read %d write %d", maxQueueNums, tc.ReadQueueNums, tc.WriteQueueNums))
	}
	if tc.Perm&^(body.PermRead|body.PermWrite|body.PermInherit|body.PermPriority) != 0 {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("perm %d is not a combination of 8, 4, 2, 1", tc.Perm))
	}
	if tc.TopicFilterType != "SINGLE_TAG" && tc.TopicFilterType != "MULTI_TAG" {
		tc.TopicFilterType = "SINGLE_TAG"
	}
	changed, err := b.topics.put(tc)
	if err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if changed {
		b.log.Info("topic created or updated", "topic", tc.TopicName, "read", tc.ReadQueueNums, "write", tc.WriteQueueNums, "perm", tc.Perm)
		b.registerNow()
	}
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleDeleteTopic is DELETE_TOPIC_IN_BROKER: the topic's config and
// consume queues go, so a topic created again under the name starts at
// offset 0. The admin tool removes it from the name servers separately
// (DELETE_TOPIC_IN_NAMESRV), as with RocketMQ.
func (b *Broker) handleDeleteTopic(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String("topic")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if err := message.ValidateTopic(topic); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if isSystemTopic(topic, b.cfg) {
		return req.Cmd.NewResponse(protocol.SystemError, "the topic["+topic+"] is a system topic and cannot be deleted")
	}
	if _, err := b.topics.remove(topic); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if err := b.store.DeleteTopic(topic); err != nil {
		return storeErrorResponse(req.Cmd, err)
	}
	b.log.Info("topic deleted", "topic", topic)
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleGetAllTopicConfig is GET_ALL_TOPIC_CONFIG.
func (b *Broker) handleGetAllTopicConfig(req *remoting.Request) *protocol.Command {
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = body.Marshal(b.topics.snapshot())
	return resp
}

// handleGetTopicStats is GET_TOPIC_STATS_INFO.
func (b *Broker) handleGetTopicStats(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String("topic")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		return req.Cmd.NewResponse(protocol.TopicNotExist, "topic["+topic+"] not exist")
	}
	var sb strings.Builder
	sb.WriteString(`{"offsetTable":{`)
	for q := int32(0); q < tc.WriteQueueNums; q++ {
		if q > 0 {
			sb.WriteByte(',')
		}
		last := int64(0)
		if max := b.store.MaxOffset(topic, q); max > 0 {
			last, _ = b.store.StoreTimeAt(topic, q, max-1)
		}
		fmt.Fprintf(&sb, `{"brokerName":%q,"queueId":%d,"topic":%q}:{"lastUpdateTimestamp":%d,"maxOffset":%d,"minOffset":%d}`,
			b.cfg.BrokerName, q, topic, last, b.store.MaxOffset(topic, q), b.store.MinOffset(topic, q))
	}
	sb.WriteString(`}}`)
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = []byte(sb.String())
	return resp
}

// handleCreateGroup is UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.
func (b *Broker) handleCreateGroup(req *remoting.Request) *protocol.Command {
	g := defaultGroup("")
	if err := json.Unmarshal(req.Cmd.Body, &g); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, "subscription group body is not valid JSON: "+err.Error())
	}
	if g.GroupName == "" || strings.ContainsAny(g.GroupName, "/\\@") {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("invalid group name %q", g.GroupName))
	}
	if err := b.groups.put(g); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleGetAllGroups is GET_ALL_SUBSCRIPTIONGROUP_CONFIG.
func (b *Broker) handleGetAllGroups(req *remoting.Request) *protocol.Command {
	t := b.groups.snapshot()
	if len(t.SubscriptionGroupTable) == 0 {
		return req.Cmd.NewResponse(protocol.SystemError, "no subscription group")
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = body.Marshal(t)
	return resp
}

// handleDeleteGroup is DELETE_SUBSCRIPTIONGROUP.
func (b *Broker) handleDeleteGroup(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	name := r.String("groupName")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if _, err := b.groups.remove(name); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return req.Cmd.NewResponse(protocol.Success, "")
}
