package client

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/testserver"
)

// orderlyOnOneQueue starts an orderly consumer of a one-queue topic whose
// listener hands each body to got; it returns the consumer and its queue.
func orderlyOnOneQueue(t *testing.T, c *testserver.Cluster, group, topic string, mod func(*PushConsumerConfig)) (*PushConsumer, MessageQueue, chan string) {
	t.Helper()
	c.CreateTopic(topic, 1)
	got := make(chan string, 16)
	pc := newTestConsumer(t, c, group, topic, group+"-1", func(cfg *PushConsumerConfig) {
		cfg.SuspendCurrentQueueTime = 10 * time.Millisecond
		cfg.Orderly = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			got <- string(msgs[0].Body)
			return ConsumeSuccess
		}
		if mod != nil {
			mod(cfg)
		}
	})
	mq := MessageQueue{Topic: topic, BrokerName: c.Brokers[0].Name, QueueID: 0}
	testserver.Eventually(t, 10*time.Second, func() bool { pq := pc.table.get(mq); return pq != nil && pq.isLocked() })
	return pc, mq, got
}

// brokerLock sends LOCK_BATCH_MQ or UNLOCK_BATCH_MQ for mq as clientID
// and reports whether clientID holds mq afterwards (for a lock).
func brokerLock(t *testing.T, c *testserver.Cluster, code int32, group, clientID string, mq MessageQueue) bool {
	t.Helper()
	payload, _ := json.Marshal(lockBody{ConsumerGroup: group, ClientID: clientID,
		MQSet: []wireQueue{{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: mq.QueueID}}})
	resp := c.Invoke(c.Brokers[0].Addr, code, nil, payload)
	if resp.Code != protocol.Success {
		t.Fatalf("%s: %d %s", protocol.RequestName(code), resp.Code, resp.Remark)
	}
	var ok struct {
		LockOKMQSet []wireQueue `json:"lockOKMQSet"`
	}
	json.Unmarshal(resp.Body, &ok)
	return len(ok.LockOKMQSet) == 1
}

// TestStaleLockRenewedBeforeConsuming: a lock not renewed within
// LockMaxLiveTime is renewed before the next batch is consumed.
func TestStaleLockRenewedBeforeConsuming(t *testing.T) {
	c := startCluster(t, 1)
	pc, mq, got := orderlyOnOneQueue(t, c, "gstale", "Stale", nil)
	pq := pc.table.get(mq)
	stale := time.Now().Add(-time.Hour).UnixMilli()
	pq.lastLock.Store(stale)
	p := newTestProducer(t, c, nil)
	if _, err := p.Send(testCtx(t), NewMessage("Stale", []byte("m"))); err != nil {
		t.Fatal(err)
	}
	<-got
	if pq.lastLock.Load() == stale {
		t.Fatal("consumed under a lock older than LockMaxLiveTime")
	}
}

// TestLostLockPausesOrderlyConsumption: when the lock cannot be renewed
// (another member holds it on the broker), the queue is not consumed
// until it can be; then it is.
func TestLostLockPausesOrderlyConsumption(t *testing.T) {
	c := startCluster(t, 1)
	pc, mq, got := orderlyOnOneQueue(t, c, "glost", "Lost", nil)
	pq := pc.table.get(mq)
	brokerLock(t, c, protocol.UnlockBatchMQ, "glost", pc.inst.clientID, mq)
	if !brokerLock(t, c, protocol.LockBatchMQ, "glost", "intruder", mq) {
		t.Fatal("the intruder could not take the lock")
	}
	pq.lastLock.Store(time.Now().Add(-time.Hour).UnixMilli())
	before := pq.relockFailures.Load()
	p := newTestProducer(t, c, nil)
	if _, err := p.Send(testCtx(t), NewMessage("Lost", []byte("m"))); err != nil {
		t.Fatal(err)
	}
	// Two failed attempts to lock again, each after the message was ready.
	testserver.Eventually(t, 10*time.Second, func() bool { return pq.relockFailures.Load() >= before+2 })
	select {
	case b := <-got:
		t.Fatalf("consumed %q without the lock", b)
	default:
	}
	brokerLock(t, c, protocol.UnlockBatchMQ, "glost", "intruder", mq)
	if b := <-got; b != "m" {
		t.Fatalf("consumed %q", b)
	}
}

// TestOrderlyCallPastTimeoutIsReportedAndWaitedFor: an orderly listener
// running past ConsumeTimeout is reported and waited for, not retried
// beside itself; the queue then goes on in order.
func TestOrderlyCallPastTimeoutIsReportedAndWaitedFor(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Overdue", 1)
	release := make(chan struct{})
	var calls atomic.Int32
	got := make(chan string, 4)
	pc := newTestConsumer(t, c, "goverdue", "Overdue", "overdue-1", func(cfg *PushConsumerConfig) {
		cfg.ConsumeTimeout = 50 * time.Millisecond
		cfg.Orderly = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			if calls.Add(1) == 1 {
				<-release // ignores its ctx
			}
			got <- string(msgs[0].Body)
			return ConsumeSuccess
		}
	})
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Overdue", "o", 2)
	mq := MessageQueue{Topic: "Overdue", BrokerName: c.Brokers[0].Name, QueueID: 0}
	testserver.Eventually(t, 10*time.Second, func() bool { pq := pc.table.get(mq); return pq != nil && pq.overdue.Load() == 1 })
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d listener calls while the first was overdue", n)
	}
	close(release)
	if a, b := <-got, <-got; a != "o-0" || b != "o-1" {
		t.Fatalf("consumed %q then %q", a, b)
	}
}
