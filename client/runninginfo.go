package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Requests a broker forwards from an administrator to one consumer:
// GET_CONSUMER_RUNNING_INFO (what `mqadmin consumerStatus` and the
// dashboards show) and CONSUME_MESSAGE_DIRECTLY (run one stored message
// through the group's listener, to test it).

// ConsumerRunningInfo is a consumer's state as it reports it (RocketMQ's
// ConsumerRunningInfo).
type ConsumerRunningInfo struct {
	// Properties: the PROP_* keys RocketMQ defines (PROP_CONSUME_TYPE,
	// PROP_CONSUMER_START_TIMESTAMP, PROP_NAMESERVER_ADDR, ...) and the
	// consumer's settings.
	Properties    map[string]string
	Subscriptions []body.SubscriptionData
	// Queues holds each owned queue's process-queue state.
	Queues map[MessageQueue]ProcessQueueInfo
	// Stack is the client's goroutine dump when asked for (Java: jstack).
	Stack string
}

// ProcessQueueInfo is one owned queue's state (RocketMQ's
// ProcessQueueInfo; timestamps in milliseconds).
type ProcessQueueInfo struct {
	CommitOffset         int64 `json:"commitOffset"`
	CachedMsgMinOffset   int64 `json:"cachedMsgMinOffset"`
	CachedMsgMaxOffset   int64 `json:"cachedMsgMaxOffset"`
	CachedMsgCount       int   `json:"cachedMsgCount"`
	CachedMsgSizeInMiB   int64 `json:"cachedMsgSizeInMiB"`
	Locked               bool  `json:"locked"`
	TryUnlockTimes       int64 `json:"tryUnlockTimes"`
	LastLockTimestamp    int64 `json:"lastLockTimestamp"`
	Dropped              bool  `json:"droped"` // sic: RocketMQ's field name
	LastPullTimestamp    int64 `json:"lastPullTimestamp"`
	LastConsumeTimestamp int64 `json:"lastConsumeTimestamp"`
}

// info snapshots the queue for GET_CONSUMER_RUNNING_INFO.
func (pq *processQueue) info() ProcessQueueInfo {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	in := ProcessQueueInfo{
		CommitOffset: pq.committed, CachedMsgCount: pq.count, CachedMsgSizeInMiB: pq.bytes >> 20,
		Locked: pq.locked, Dropped: pq.dropped, LastPullTimestamp: pq.lastPull.Load() / int64(time.Millisecond),
		LastConsumeTimestamp: pq.lastConsume.Load(), LastLockTimestamp: pq.lastLock.Load(),
	}
	for i := pq.head; i < len(pq.entries); i++ {
		if !pq.entries[i].done {
			in.CachedMsgMinOffset = pq.entries[i].offset
			break
		}
	}
	if n := len(pq.entries); n > pq.head {
		in.CachedMsgMaxOffset = pq.entries[n-1].offset
	}
	return in
}

// runningInfo collects the consumer's ConsumerRunningInfo.
func (c *PushConsumer) runningInfo(withStack bool) *ConsumerRunningInfo {
	cd := c.consumerData()
	info := &ConsumerRunningInfo{
		Properties: map[string]string{
			"PROP_NAMESERVER_ADDR":          strings.Join(c.inst.nameServers, ";"),
			"PROP_THREADPOOL_CORE_SIZE":     strconv.Itoa(c.cfg.ConsumeGoroutines),
			"PROP_CONSUMEORDERLY":           strconv.FormatBool(c.cfg.Orderly != nil),
			"PROP_CONSUME_TYPE":             cd.ConsumeType,
			"PROP_CLIENT_VERSION":           clientVersionName,
			"PROP_CONSUMER_START_TIMESTAMP": strconv.FormatInt(c.started.UnixMilli(), 10),
			"consumerGroup":                 c.cfg.Group,
			"messageModel":                  cd.MessageModel,
			"consumeFromWhere":              cd.ConsumeFromWhere,
			"pullBatchSize":                 strconv.Itoa(c.cfg.PullBatchSize),
			"consumeMessageBatchMaxSize":    strconv.Itoa(c.cfg.ConsumeBatchSize),
			"pullThresholdForQueue":         strconv.Itoa(c.cfg.PullThresholdForQueue),
			"maxReconsumeTimes":             strconv.Itoa(c.cfg.MaxReconsumeTimes),
			"consumeTimeout":                strconv.FormatInt(int64(c.cfg.ConsumeTimeout/time.Minute), 10),
		},
		Subscriptions: cd.SubscriptionDataSet,
		Queues:        make(map[MessageQueue]ProcessQueueInfo),
	}
	for _, pq := range c.table.all() {
		info.Queues[pq.mq] = pq.info()
	}
	if withStack {
		buf := make([]byte, 1<<20)
		info.Stack = string(buf[:runtime.Stack(buf, true)])
	}
	return info
}

// clientVersionName is what PROP_CLIENT_VERSION reports.
const clientVersionName = "petrel-go"

// encode writes the info as RocketMQ does: fastjson's object keys for
// mqTable (see objectkeys.go), the other fields plain JSON.
func (info *ConsumerRunningInfo) encode() []byte {
	var b bytes.Buffer
	b.WriteString(`{"properties":`)
	b.Write(body.Marshal(info.Properties))
	b.WriteString(`,"subscriptionSet":`)
	b.Write(body.Marshal(info.Subscriptions))
	b.WriteString(`,"statusTable":{},"mqTable":{`)
	queues := make([]MessageQueue, 0, len(info.Queues))
	for mq := range info.Queues {
		queues = append(queues, mq)
	}
	sort.Slice(queues, func(i, j int) bool { return queues[i].String() < queues[j].String() })
	for i, mq := range queues {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(body.Marshal(wireQueue{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: mq.QueueID}))
		b.WriteByte(':')
		b.Write(body.Marshal(info.Queues[mq]))
	}
	b.WriteString(`},"jstack":`)
	b.Write(body.Marshal(info.Stack))
	b.WriteByte('}')
	return b.Bytes()
}

// decodeRunningInfo reads a ConsumerRunningInfo body, from petrel's
// client or RocketMQ's.
func decodeRunningInfo(b []byte) (*ConsumerRunningInfo, error) {
	info := &ConsumerRunningInfo{Queues: make(map[MessageQueue]ProcessQueueInfo)}
	fields := []struct {
		name string
		dst  any
	}{{"properties", &info.Properties}, {"subscriptionSet", &info.Subscriptions}, {"jstack", &info.Stack}}
	for _, f := range fields {
		v, err := fieldValue(b, f.name)
		if err != nil {
			return nil, err
		}
		if v != nil {
			if err := json.Unmarshal(v, f.dst); err != nil {
				return nil, fmt.Errorf("petrel client: consumer running info %s: %w", f.name, err)
			}
		}
	}
	entries, err := queueMapEntries(b, "mqTable")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		var q ProcessQueueInfo
		if err := json.Unmarshal(e.value, &q); err != nil {
			return nil, fmt.Errorf("petrel client: consumer running info queue %s: %w", e.queue, err)
		}
		info.Queues[e.queue] = q
	}
	return info, nil
}

// handleGetConsumerRunningInfo is GET_CONSUMER_RUNNING_INFO.
func (in *instance) handleGetConsumerRunningInfo(req *remoting.Request) *protocol.Command {
	group := req.Cmd.Ext.Get("consumerGroup")
	c := in.pushConsumer(group)
	if c == nil {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("the consumer group %s does not exist in client %s", group, in.clientID))
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = c.runningInfo(strings.EqualFold(req.Cmd.Ext.Get("jstackEnable"), "true")).encode()
	return resp
}

// ConsumeDirectlyResult is a CONSUME_MESSAGE_DIRECTLY outcome (RocketMQ's
// ConsumeMessageDirectlyResult).
type ConsumeDirectlyResult struct {
	Order          bool   `json:"order"`
	AutoCommit     bool   `json:"autoCommit"`
	ConsumeResult  string `json:"consumeResult"` // CR_SUCCESS, CR_LATER, CR_THROW_EXCEPTION, ...
	Remark         string `json:"remark"`
	SpentTimeMills int64  `json:"spentTimeMills"` // sic
}

// handleConsumeMessageDirectly is CONSUME_MESSAGE_DIRECTLY: the body is
// one stored message, run once through the group's listener. It is not a
// delivery: nothing is committed or sent back whatever the result.
func (in *instance) handleConsumeMessageDirectly(req *remoting.Request) *protocol.Command {
	group := req.Cmd.Ext.Get("consumerGroup")
	c := in.pushConsumer(group)
	if c == nil {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("the consumer group %s does not exist in client %s", group, in.clientID))
	}
	msgs, err := decodeMessages(req.Cmd.Body, req.Cmd.Ext.Get("brokerName"))
	if err != nil || len(msgs) != 1 {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("CONSUME_MESSAGE_DIRECTLY needs one message in the body: %d decoded, %v", len(msgs), err))
	}
	restoreRetryTopic(msgs[0])
	res := c.consumeDirectly(msgs)
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = body.Marshal(res)
	return resp
}

// consumeDirectly runs msgs through the listener, bounded by
// ConsumeTimeout, turning a panic into CR_THROW_EXCEPTION.
func (c *PushConsumer) consumeDirectly(msgs []*MessageExt) (out ConsumeDirectlyResult) {
	out = ConsumeDirectlyResult{Order: c.cfg.Orderly != nil, AutoCommit: true}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			out.ConsumeResult, out.Remark = "CR_THROW_EXCEPTION", fmt.Sprint(p)
		}
		out.SpentTimeMills = time.Since(start).Milliseconds()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConsumeTimeout)
	defer cancel()
	var res ConsumeResult
	switch {
	case c.cfg.Orderly != nil:
		res = c.cfg.Orderly(ctx, msgs)
	case c.cfg.Listener != nil:
		res = c.cfg.Listener(ctx, msgs)
	default:
		out.ConsumeResult, out.Remark = "CR_RETURN_NULL", "the consumer has no listener"
		return out
	}
	out.ConsumeResult = "CR_LATER"
	if res == ConsumeSuccess {
		out.ConsumeResult = "CR_SUCCESS"
	}
	return out
}
