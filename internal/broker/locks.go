package broker

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// lockMaxLiveTime is how long a queue lock lives after its last renewal
// (RocketMQ's rocketmq.broker.rebalance.lockMaxLiveTime). A lock is not
// released when its holder's connection closes: the holder may still be
// working on a batch, and handing the queue over early would break order.
const lockMaxLiveTime = 60 * time.Second

// MessageQueue names one queue, as clients send it.
type MessageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

type lockBatchBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []MessageQueue `json:"mqSet"`
}

type lockBatchResponse struct {
	LockOKMQSet []MessageQueue `json:"lockOKMQSet"`
}

type queueLock struct {
	clientID string
	renewed  time.Time
}

// lockTable holds orderly consumers' queue locks (RocketMQ's
// RebalanceLockManager): a queue is locked by one client of a group at a
// time.
type lockTable struct {
	mu    sync.Mutex
	locks map[string]map[MessageQueue]*queueLock // by group
}

func newLockTable() *lockTable {
	return &lockTable{locks: make(map[string]map[MessageQueue]*queueLock)}
}

// tryLock locks every free, own or expired queue for clientID and returns
// the queues the client now holds.
func (t *lockTable) tryLock(group, clientID string, mqs []MessageQueue, now time.Time) []MessageQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.locks[group]
	if g == nil {
		g = make(map[MessageQueue]*queueLock)
		t.locks[group] = g
	}
	ok := make([]MessageQueue, 0, len(mqs))
	for _, mq := range mqs {
		l := g[mq]
		if l == nil || l.clientID == clientID || now.Sub(l.renewed) > lockMaxLiveTime {
			g[mq] = &queueLock{clientID: clientID, renewed: now}
			ok = append(ok, mq)
		}
	}
	return ok
}

// unlock releases the queues clientID holds; others' locks stay.
func (t *lockTable) unlock(group, clientID string, mqs []MessageQueue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.locks[group]
	for _, mq := range mqs {
		if l := g[mq]; l != nil && l.clientID == clientID {
			delete(g, mq)
		}
	}
	if len(g) == 0 {
		delete(t.locks, group)
	}
}

// holder returns who holds a queue's live lock ("" if nobody).
func (t *lockTable) holder(group string, mq MessageQueue, now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.locks[group][mq]; l != nil && now.Sub(l.renewed) <= lockMaxLiveTime {
		return l.clientID
	}
	return ""
}

// handleLockBatch is LOCK_BATCH_MQ.
func (b *Broker) handleLockBatch(req *remoting.Request) *protocol.Command {
	var body lockBatchBody
	if err := json.Unmarshal(req.Cmd.Body, &body); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, "lock body is not valid JSON: "+err.Error())
	}
	ok := b.locks.tryLock(body.ConsumerGroup, body.ClientID, body.MQSet, b.now())
	sort.Slice(ok, func(i, j int) bool { return lessMQ(ok[i], ok[j]) })
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body, _ = json.Marshal(lockBatchResponse{LockOKMQSet: ok})
	return resp
}

// handleUnlockBatch is UNLOCK_BATCH_MQ.
func (b *Broker) handleUnlockBatch(req *remoting.Request) *protocol.Command {
	var body lockBatchBody
	if err := json.Unmarshal(req.Cmd.Body, &body); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, "unlock body is not valid JSON: "+err.Error())
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return req.Cmd.NewResponse(protocol.Success, "")
}

func lessMQ(a, b MessageQueue) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	if a.BrokerName != b.BrokerName {
		return a.BrokerName < b.BrokerName
	}
	return a.QueueID < b.QueueID
}
