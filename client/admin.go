package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// Admin manages topics, groups and offsets, and looks messages up: what
// RocketMQ's mqadmin does, over the same requests. It is safe for
// concurrent use; Close it when done.
type Admin struct {
	inst *instance
}

// NewAdmin returns an admin client. It shares the client instance of
// producers and consumers with the same Config.
func NewAdmin(cfg Config) (*Admin, error) {
	inst, err := acquireInstance(cfg)
	if err != nil {
		return nil, err
	}
	return &Admin{inst: inst}, nil
}

// Close leaves the client instance.
func (a *Admin) Close() error {
	if a.inst != nil {
		a.inst.release()
		a.inst = nil
	}
	return nil
}

// TopicConfig describes a topic to create.
type TopicConfig struct {
	Topic string
	// Queues is the read and write queue count on each broker; zero means 8.
	Queues int
	// Perm is the permission bits (2 write, 4 read); zero means 6.
	Perm int
	// Order marks the topic ordered (informational, as in RocketMQ).
	Order bool
	// Brokers are the broker names to create it on; empty means every
	// broker the name servers know.
	Brokers []string
}

// CreateTopic creates or updates a topic on its brokers
// (UPDATE_AND_CREATE_TOPIC on each master; they register it with the
// name servers).
func (a *Admin) CreateTopic(ctx context.Context, tc TopicConfig) error {
	if err := message.ValidateTopic(tc.Topic); err != nil {
		return fmt.Errorf("petrel client: create topic: %w", err)
	}
	if tc.Queues <= 0 {
		tc.Queues = 8
	}
	if tc.Perm == 0 {
		tc.Perm = body.PermRead | body.PermWrite
	}
	masters, err := a.masters(ctx, tc.Brokers)
	if err != nil {
		return err
	}
	q := strconv.Itoa(tc.Queues)
	var errs []error
	for name, addr := range masters {
		req := protocol.NewRequest(protocol.UpdateAndCreateTopic, protocol.FieldsOf(
			"topic", tc.Topic, "defaultTopic", defaultTopic, "readQueueNums", q, "writeQueueNums", q,
			"perm", strconv.Itoa(tc.Perm), "topicFilterType", "SINGLE_TAG", "topicSysFlag", "0",
			"order", strconv.FormatBool(tc.Order)), nil)
		errs = append(errs, a.expectSuccess(ctx, name, addr, req))
	}
	return errors.Join(errs...)
}

// DeleteTopic deletes a topic from every broker of its route
// (DELETE_TOPIC_IN_BROKER) and then from every name server
// (DELETE_TOPIC_IN_NAMESRV), as mqadmin deleteTopic does.
func (a *Admin) DeleteTopic(ctx context.Context, topic string) error {
	data, err := a.inst.fetchRoute(ctx, topic)
	if err != nil {
		return err
	}
	var errs []error
	for _, bd := range data.BrokerDatas {
		if addr := bd.BrokerAddrs[0]; addr != "" {
			req := protocol.NewRequest(protocol.DeleteTopicInBroker, protocol.FieldsOf("topic", topic), nil)
			errs = append(errs, a.expectSuccess(ctx, bd.BrokerName, addr, req))
		}
	}
	for _, ns := range a.inst.nameServers {
		req := protocol.NewRequest(protocol.DeleteTopicInNamesrv, protocol.FieldsOf("topic", topic), nil)
		errs = append(errs, a.expectSuccess(ctx, "", ns, req))
	}
	a.inst.routes.Lock()
	delete(a.inst.routes.topics, topic)
	a.inst.routes.Unlock()
	return errors.Join(errs...)
}

// GroupConfig describes a consumer group's broker-side settings.
type GroupConfig struct {
	Group string
	// RetryMaxTimes is how often a message is redelivered before the DLQ
	// when consumers do not say (zero means 16).
	RetryMaxTimes int
	// RetryQueues is the retry topic's queue count (zero means 1).
	RetryQueues int
	// DisableBroadcast refuses broadcasting consumers of the group.
	DisableBroadcast bool
	// Brokers are the broker names; empty means every broker.
	Brokers []string
}

// CreateGroup creates or updates a subscription group
// (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on each master).
func (a *Admin) CreateGroup(ctx context.Context, gc GroupConfig) error {
	if gc.Group == "" {
		return errors.New("petrel client: create group: empty name")
	}
	if gc.RetryMaxTimes <= 0 {
		gc.RetryMaxTimes = DefaultMaxReconsumeTimes
	}
	if gc.RetryQueues <= 0 {
		gc.RetryQueues = 1
	}
	masters, err := a.masters(ctx, gc.Brokers)
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]any{
		"groupName": gc.Group, "consumeEnable": true, "consumeFromMinEnable": true,
		"consumeBroadcastEnable": !gc.DisableBroadcast, "retryQueueNums": gc.RetryQueues,
		"retryMaxTimes": gc.RetryMaxTimes, "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1,
		"notifyConsumerIdsChangedEnable": true,
	})
	var errs []error
	for name, addr := range masters {
		req := protocol.NewRequest(protocol.UpdateAndCreateSubscriptionGroup, nil, payload)
		errs = append(errs, a.expectSuccess(ctx, name, addr, req))
	}
	return errors.Join(errs...)
}

// DeleteGroup deletes a subscription group from every broker.
func (a *Admin) DeleteGroup(ctx context.Context, group string) error {
	masters, err := a.masters(ctx, nil)
	if err != nil {
		return err
	}
	var errs []error
	for name, addr := range masters {
		req := protocol.NewRequest(protocol.DeleteSubscriptionGroup, protocol.FieldsOf("groupName", group, "removeOffset", "true"), nil)
		errs = append(errs, a.expectSuccess(ctx, name, addr, req))
	}
	return errors.Join(errs...)
}

// TopicRoute is a topic's route as the name servers know it.
type TopicRoute struct {
	Topic   string
	Brokers []BrokerRoute
	// Queues are the readable queues, sorted.
	Queues []MessageQueue
}

// BrokerRoute is one broker of a route.
type BrokerRoute struct {
	Name    string
	Cluster string
	// Addrs are the broker's addresses by broker id (0 is the master).
	Addrs                   map[int64]string
	ReadQueues, WriteQueues int
	Perm                    int
}

// Route returns a topic's current route (never cached).
func (a *Admin) Route(ctx context.Context, topic string) (*TopicRoute, error) {
	data, err := a.inst.fetchRoute(ctx, topic)
	if err != nil {
		if errors.Is(err, errTopicNotExist) {
			return nil, fmt.Errorf("%w %s: %w", ErrNoRoute, topic, err)
		}
		return nil, err
	}
	r := newTopicRoute(topic, data, false)
	out := &TopicRoute{Topic: topic, Queues: r.subscribe}
	for _, bd := range data.BrokerDatas {
		br := BrokerRoute{Name: bd.BrokerName, Cluster: bd.Cluster, Addrs: bd.BrokerAddrs}
		for _, qd := range data.QueueDatas {
			if qd.BrokerName == bd.BrokerName {
				br.ReadQueues, br.WriteQueues, br.Perm = int(qd.ReadQueueNums), int(qd.WriteQueueNums), int(qd.Perm)
			}
		}
		out.Brokers = append(out.Brokers, br)
	}
	slices.SortFunc(out.Brokers, func(x, y BrokerRoute) int { return compareStrings(x.Name, y.Name) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// QueueStats is a group's progress on one queue.
type QueueStats struct {
	Queue MessageQueue
	// BrokerOffset is the queue's next offset to be written.
	BrokerOffset int64
	// ConsumerOffset is the group's committed offset.
	ConsumerOffset int64
	// Lag is BrokerOffset - ConsumerOffset: messages not yet consumed.
	Lag int64
	// LastTimestamp is the store time of the last consumed message.
	LastTimestamp time.Time
}

// ConsumeStats returns the group's progress on every queue of topic
// (GET_CONSUME_STATS on each broker of the topic), sorted by queue.
func (a *Admin) ConsumeStats(ctx context.Context, group, topic string) ([]QueueStats, error) {
	data, err := a.inst.fetchRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []QueueStats
	for _, bd := range data.BrokerDatas {
		addr := bd.BrokerAddrs[0]
		if addr == "" {
			continue
		}
		req := protocol.NewRequest(protocol.GetConsumeStats, protocol.FieldsOf("consumerGroup", group, "topic", topic), nil)
		resp, err := a.invoke(ctx, bd.BrokerName, addr, req)
		if err != nil {
			return nil, err
		}
		entries, err := queueMapEntries(resp.Body, "offsetTable")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			var w struct {
				BrokerOffset   int64 `json:"brokerOffset"`
				ConsumerOffset int64 `json:"consumerOffset"`
				LastTimestamp  int64 `json:"lastTimestamp"`
			}
			if err := json.Unmarshal(e.value, &w); err != nil {
				return nil, fmt.Errorf("petrel client: GET_CONSUME_STATS of %s: %w", e.queue, err)
			}
			qs := QueueStats{Queue: e.queue, BrokerOffset: w.BrokerOffset, ConsumerOffset: w.ConsumerOffset,
				Lag: max(w.BrokerOffset-w.ConsumerOffset, 0)}
			if w.LastTimestamp > 0 {
				qs.LastTimestamp = time.UnixMilli(w.LastTimestamp)
			}
			out = append(out, qs)
		}
	}
	slices.SortFunc(out, func(x, y QueueStats) int { return compareQueues(x.Queue, y.Queue) })
	return out, nil
}

// ViewMessage returns the message with a broker-assigned id (OffsetMsgID:
// store host and commit-log offset) with VIEW_MESSAGE_BY_ID.
func (a *Admin) ViewMessage(ctx context.Context, offsetMsgID string) (*MessageExt, error) {
	host, off, err := message.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return nil, fmt.Errorf("petrel client: view message %q: %w", offsetMsgID, err)
	}
	addr := host.String()
	name := a.inst.brokerNameOf(tcpAddr(addr))
	req := protocol.NewRequest(protocol.ViewMessageByID, protocol.FieldsOf("offset", strconv.FormatInt(off, 10)), nil)
	resp, err := a.invoke(ctx, name, addr, req)
	if err != nil {
		return nil, err
	}
	msgs, err := decodeMessages(resp.Body, name)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("petrel client: view message %s: undecodable answer: %v", offsetMsgID, err)
	}
	return msgs[0], nil
}

// QueryByKey returns messages of topic whose KEYS include key, stored
// between begin and end (zero end: now), at most maxNum per broker (zero:
// the broker's limit), with QUERY_MESSAGE on every broker of the topic.
func (a *Admin) QueryByKey(ctx context.Context, topic, key string, begin, end time.Time, maxNum int) ([]*MessageExt, error) {
	return a.query(ctx, topic, key, begin, end, maxNum, false)
}

// QueryByID returns the message of topic with a client id (MsgID, the
// UNIQ_KEY) or a broker id (OffsetMsgID).
func (a *Admin) QueryByID(ctx context.Context, topic, msgID string) (*MessageExt, error) {
	if _, _, err := message.ParseOffsetMsgID(msgID); err == nil {
		if m, err := a.ViewMessage(ctx, msgID); err == nil && m.Topic == topic {
			return m, nil
		}
	}
	msgs, err := a.query(ctx, topic, msgID, time.Time{}, time.Time{}, 0, true)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.MsgID == msgID {
			return m, nil
		}
	}
	return nil, fmt.Errorf("petrel client: message %s of topic %s: %w", msgID, topic, ErrMessageNotFound)
}

// ErrMessageNotFound: a query found no message.
var ErrMessageNotFound = errors.New("petrel client: message not found")

func (a *Admin) query(ctx context.Context, topic, key string, begin, end time.Time, maxNum int, unique bool) ([]*MessageExt, error) {
	data, err := a.inst.fetchRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	if end.IsZero() {
		end = time.Now().Add(time.Minute)
	}
	var out []*MessageExt
	for _, bd := range data.BrokerDatas {
		addr := bd.BrokerAddrs[0]
		if addr == "" {
			continue
		}
		f := protocol.FieldsOf("topic", topic, "key", key, "maxNum", strconv.Itoa(maxNum),
			"beginTimestamp", strconv.FormatInt(begin.UnixMilli(), 10), "endTimestamp", strconv.FormatInt(end.UnixMilli(), 10))
		if unique {
			f.Set("_UNIQUE_KEY_QUERY", "true")
		}
		req := protocol.NewRequest(protocol.QueryMessage, f, nil)
		rctx, cancel := context.WithTimeout(ctx, a.inst.cfg.RequestTimeout)
		resp, err := a.inst.invoke(rctx, bd.BrokerName, addr, req)
		cancel()
		if err != nil {
			return nil, err
		}
		if resp.Code == protocol.QueryNotFound {
			continue
		}
		if resp.Code != protocol.Success {
			return nil, &BrokerError{Op: "QUERY_MESSAGE", Broker: bd.BrokerName, Addr: addr, Code: resp.Code, Remark: resp.Remark}
		}
		msgs, err := decodeMessages(resp.Body, bd.BrokerName)
		if err != nil {
			return nil, fmt.Errorf("petrel client: QUERY_MESSAGE answer of %s: %w", bd.BrokerName, err)
		}
		for _, m := range msgs {
			// The index is by hash: keep exact matches of this topic only.
			if m.Topic == topic && (m.MsgID == key || slices.Contains(m.Keys, key)) {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("petrel client: key %s of topic %s: %w", key, topic, ErrMessageNotFound)
	}
	return out, nil
}

// ResetOffset moves a group's offsets on topic, on every broker of the
// topic, to the first message stored at or after t
// (INVOKE_BROKER_TO_RESET_OFFSET, forced). Online consumers of the group
// are told by the brokers and restart their queues there. It returns the
// new offset of each queue.
func (a *Admin) ResetOffset(ctx context.Context, topic, group string, t time.Time) (map[MessageQueue]int64, error) {
	data, err := a.inst.fetchRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(map[MessageQueue]int64)
	for _, bd := range data.BrokerDatas {
		addr := bd.BrokerAddrs[0]
		if addr == "" {
			continue
		}
		req := protocol.NewRequest(protocol.InvokeBrokerToResetOffset, protocol.FieldsOf("topic", topic, "group", group,
			"timestamp", strconv.FormatInt(t.UnixMilli(), 10), "isForce", "true"), nil)
		resp, err := a.invoke(ctx, bd.BrokerName, addr, req)
		if err != nil {
			return nil, err
		}
		offs, err := parseQueueOffsets(resp.Body)
		if err != nil {
			return nil, err
		}
		for mq, off := range offs {
			out[mq] = off
		}
	}
	return out, nil
}

// masters returns the master addresses of the named brokers (all brokers
// when names is empty), from the name servers' cluster info.
func (a *Admin) masters(ctx context.Context, names []string) (map[string]string, error) {
	var errs []error
	for _, ns := range a.inst.nameServers {
		req := protocol.NewRequest(protocol.GetBrokerClusterInfo, nil, nil)
		resp, err := a.invoke(ctx, "", ns, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var ci body.ClusterInfo
		if err := json.Unmarshal(resp.Body, &ci); err != nil {
			errs = append(errs, fmt.Errorf("petrel client: cluster info from %s: %w", ns, err))
			continue
		}
		out := make(map[string]string)
		for name, bd := range ci.BrokerAddrTable {
			if addr := bd.BrokerAddrs[0]; addr != "" && (len(names) == 0 || slices.Contains(names, name)) {
				out[name] = addr
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("petrel client: no master among brokers %v", names)
		}
		return out, nil
	}
	return nil, fmt.Errorf("petrel client: cluster info: %w", errors.Join(errs...))
}

// invoke sends req and requires SUCCESS.
func (a *Admin) invoke(ctx context.Context, brokerName, addr string, req *protocol.Command) (*protocol.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, a.inst.cfg.RequestTimeout)
	defer cancel()
	resp, err := a.inst.invoke(ctx, brokerName, addr, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != protocol.Success {
		return nil, &BrokerError{Op: protocol.RequestName(req.Code), Broker: brokerName, Addr: addr, Code: resp.Code, Remark: resp.Remark}
	}
	return resp, nil
}

func (a *Admin) expectSuccess(ctx context.Context, brokerName, addr string, req *protocol.Command) error {
	_, err := a.invoke(ctx, brokerName, addr, req)
	return err
}
