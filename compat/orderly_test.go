package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// orderRecorder is an orderly consumer's callback: it records, per key,
// the steps in the order the consumer delivered them, and takes a while
// over each message so a backlog builds up.
type orderRecorder struct {
	mu    sync.Mutex
	steps map[int][]int // key -> steps in delivery order
	n     int
}

func newOrderRecorder() *orderRecorder { return &orderRecorder{steps: map[int][]int{}} }

func (r *orderRecorder) Handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	for _, m := range msgs {
		var key, step int
		if _, err := fmt.Sscanf(string(m.Body), "key%d-step%d", &key, &step); err != nil {
			return consumer.ConsumeSuccess, fmt.Errorf("unexpected body %q", m.Body)
		}
		r.mu.Lock()
		r.steps[key] = append(r.steps[key], step)
		r.n++
		r.mu.Unlock()
	}
	time.Sleep(20 * time.Millisecond)
	return consumer.ConsumeSuccess, nil
}

func (r *orderRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *orderRecorder) snapshot() map[int][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int][]int{}
	for k, s := range r.steps {
		out[k] = slices.Clone(s)
	}
	return out
}

// rebalancer is the push consumer's own rebalance, which the Go client
// runs at start, on NOTIFY_CONSUMER_IDS_CHANGED and every 20 s.
type rebalancer interface{ Rebalance() }

// TestOrderlyConsumersKeepKeyOrderAcrossJoin sends 10 keys x 20 steps with
// a hash queue selector (a key's steps all go to one queue, in order) to
// an orderly consumer and starts a second orderly consumer of the group
// while the first works through the backlog. The broker's queue locks
// must keep the newcomer off the queues the first still holds; once a
// queue's lock is released the newcomer takes it over from the committed
// offset. Each consumer sees each key's steps in send order with no gaps
// (a step may be seen again by the newcomer), and together they see every
// step.
//
// The Go client v2.1.2 does not unlock a queue a rebalance takes away from
// an orderly consumer (its removeUnnecessaryMessageQueue leaves that as a
// TODO), so on its own the newcomer would wait for the lock to expire on
// the broker (60 s, as with RocketMQ's broker). The test sends that
// UNLOCK_BATCH_MQ for the first consumer, as the Java client does (at
// once, or 20 s later if the queue still had messages cached), and runs
// the newcomer's rebalance instead of waiting up to 20 s for its timer.
func TestOrderlyConsumersKeepKeyOrderAcrossJoin(t *testing.T) {
	p := startPetrel(t)
	const topic, group, queues, keys, steps, early = "Ordered", "OrderedGroup", 4, 10, 20, 15
	createTopic(t, p, topic, queues)
	mqs, err := publishQueues(t, p, topic)
	if err != nil {
		t.Fatalf("route of %s: %v", topic, err)
	}

	rec1, rec2 := newOrderRecorder(), newOrderRecorder()
	inst1, inst2 := instanceName("orderly"), instanceName("orderly")
	c1 := startOrderly(t, p, group, topic, inst1, rec1)
	eventually(t, deliverTimeout, func() bool { return len(c1.OwnedQueues(topic)) == queues }, func() string {
		return fmt.Sprintf("the only orderly consumer locked queues %v, want all %d", c1.OwnedQueues(topic), queues)
	})

	prod := newProducer(t, p, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	queueOf := map[int]int{}
	send := func(from, to int) {
		for step := from; step < to; step++ {
			for key := range keys {
				msg := primitive.NewMessage(topic, fmt.Appendf(nil, "key%02d-step%02d", key, step)).
					WithShardingKey(fmt.Sprintf("key%02d", key))
				res, err := prod.SendSync(opContext(t), msg)
				if err != nil || res.Status != primitive.SendOK {
					t.Fatalf("SendSync key %d step %d: %v %v", key, step, res, err)
				}
				if q, ok := queueOf[key]; ok && q != res.MessageQueue.QueueId {
					t.Fatalf("key %d went to queues %d and %d: the hash selector should keep a key on one queue", key, q, res.MessageQueue.QueueId)
				}
				queueOf[key] = res.MessageQueue.QueueId
			}
		}
	}
	send(0, early)
	eventually(t, deliverTimeout, func() bool { return rec1.count() >= 3*keys }, func() string {
		return fmt.Sprintf("the orderly consumer got only %d messages", rec1.count())
	})

	c2 := startOrderly(t, p, group, topic, inst2, rec2)
	// The broker tells the first consumer of the newcomer; its rebalance
	// gives up half the queues.
	eventually(t, deliverTimeout, func() bool { return len(c1.OwnedQueues(topic)) == queues/2 }, func() string {
		return fmt.Sprintf("after a second consumer joined the first still owns queues %v", c1.OwnedQueues(topic))
	})
	kept := c1.OwnedQueues(topic)
	c2.PushConsumer.(rebalancer).Rebalance()
	if owned := c2.OwnedQueues(topic); len(owned) != 0 {
		t.Fatalf("the newcomer owns queues %v while the first consumer still holds every queue's lock", owned)
	}

	id1 := clientIDOf(t, p, group, inst1)
	var released []lockQueue
	for _, mq := range mqs {
		if _, ok := kept[mq.QueueId]; !ok {
			released = append(released, lockQueue{Topic: topic, BrokerName: mq.BrokerName, QueueID: mq.QueueId})
		}
	}
	unlock, _ := json.Marshal(map[string]any{"consumerGroup": group, "clientId": id1, "mqSet": released})
	dialRemoting(t, p.BrokerAddr).mustInvoke(t, codeUnlockBatchMQ, nil, unlock)

	c2.PushConsumer.(rebalancer).Rebalance()
	if owned := c2.OwnedQueues(topic); len(owned) != queues/2 {
		t.Fatalf("after the first consumer's locks on queues %v were released the newcomer owns %v", released, owned)
	}
	send(early, steps)

	seenAll := func() bool {
		s1, s2 := rec1.snapshot(), rec2.snapshot()
		for key := range keys {
			for step := range steps {
				if !slices.Contains(s1[key], step) && !slices.Contains(s2[key], step) {
					return false
				}
			}
		}
		return true
	}
	eventually(t, deliverTimeout, seenAll, func() string {
		return fmt.Sprintf("steps missing: first consumer saw %v, newcomer %v", rec1.snapshot(), rec2.snapshot())
	})

	s1, s2 := rec1.snapshot(), rec2.snapshot()
	for name, s := range map[string]map[int][]int{"first consumer": s1, "newcomer": s2} {
		for key, got := range s {
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Errorf("%s saw key %d's steps %v: out of order or with a gap", name, key, got)
					break
				}
			}
		}
	}
	for key := range keys {
		if got := s1[key]; len(got) == 0 || got[0] != 0 {
			t.Errorf("first consumer saw key %d's steps %v, want them from step 0", key, got)
		}
		if _, stayed := kept[queueOf[key]]; stayed {
			if len(s2[key]) > 0 {
				t.Errorf("newcomer saw key %d (queue %d, kept by the first consumer): %v", key, queueOf[key], s2[key])
			}
		} else if len(s2[key]) == 0 {
			t.Errorf("newcomer took over queue %d but saw nothing of key %d", queueOf[key], key)
		}
	}
	t.Logf("first consumer kept queues %v; keys by queue %v", slices.Sorted(maps.Keys(kept)), queueOf)
}

// lockQueue is a MessageQueue as LOCK_BATCH_MQ and UNLOCK_BATCH_MQ carry it.
type lockQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int    `json:"queueId"`
}

// startOrderly starts an orderly clustering push consumer with instance
// name inst, shut down when t ends.
func startOrderly(t *testing.T, p *Petrel, group, topic, inst string, rec *orderRecorder) *PushConsumer {
	t.Helper()
	c, err := openPushConsumer(p, group, topic, "*", rec.Handle, consumer.WithConsumerOrder(true), consumer.WithInstance(inst))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}

// clientIDOf returns the client id (ip@instance) the broker lists for the
// member of group with instance name inst.
func clientIDOf(t *testing.T, p *Petrel, group, inst string) string {
	t.Helper()
	var ids []string
	for _, id := range consumerIDs(t, p, group) {
		ids = append(ids, id)
		if strings.HasSuffix(id, "@"+inst) {
			return id
		}
	}
	t.Fatalf("the broker lists no member of %s with instance %s: %v", group, inst, ids)
	return ""
}

// TestOrderlyConsumerGivesUpToDLQ has an orderly consumer (maxReconsumeTimes
// 1) suspend its queue on one message every time. The Go client re-consumes
// a suspended message locally (each time the queue's next pull brings
// messages), and once its reconsume count exceeds the maximum it sends the
// message back with delay level -1 to the store host the message names;
// the broker must put it straight into %DLQ%<group>. The queue then moves
// on: the messages behind it are consumed, in order.
func TestOrderlyConsumerGivesUpToDLQ(t *testing.T) {
	p := startPetrel(t)
	const topic, group, poison = "OrderedPoison", "OrderedPoisonGroup", "poison"
	const dlq = "%DLQ%" + group
	createTopic(t, p, topic, 1)

	var mu sync.Mutex
	var attempts []int32 // the poison's reconsume times, per delivery
	var behind []string
	handle := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if string(m.Body) == poison {
				attempts = append(attempts, m.ReconsumeTimes)
				return consumer.SuspendCurrentQueueAMoment, nil
			}
			behind = append(behind, string(m.Body))
		}
		return consumer.ConsumeSuccess, nil
	}
	seen := func() ([]int32, []string) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(attempts), slices.Clone(behind)
	}
	c, err := openPushConsumer(p, group, topic, "*", handle, consumer.WithConsumerOrder(true), consumer.WithMaxReconsumeTimes(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	eventually(t, deliverTimeout, func() bool { return len(c.OwnedQueues(topic)) == 1 }, func() string {
		return "the orderly consumer did not lock the topic's queue"
	})

	sent := sendTagged(t, p, topic, []string{poison})
	fillers := []string{"behind-0", "behind-1"}
	for i, b := range append([]string{""}, fillers...) {
		if b != "" {
			maps.Copy(sent, sendTagged(t, p, topic, []string{b}))
		}
		eventually(t, deliverTimeout, func() bool { a, _ := seen(); return len(a) > i }, func() string {
			a, _ := seen()
			return fmt.Sprintf("the poison was delivered %d times, want %d", len(a), i+1)
		})
	}
	eventually(t, deliverTimeout, func() bool { _, b := seen(); return len(b) == len(fillers) }, func() string {
		_, b := seen()
		return fmt.Sprintf("behind the poison only %v were consumed, want %v", b, fillers)
	})
	if a, b := seen(); !slices.Equal(a, []int32{0, 1, 2}) || !slices.Equal(b, fillers) {
		t.Errorf("poison delivered with reconsume times %v, then %v consumed; want [0 1 2] then %v", a, b, fillers)
	}

	eventually(t, deliverTimeout, func() bool {
		mqs, err := publishQueues(t, p, dlq)
		return err == nil && len(mqs) > 0
	}, func() string { return "no route for " + dlq + " after the orderly consumer gave up" })
	in := newInbox()
	startPushConsumer(t, p, "OrderedPoisonDLQReader", dlq, "*", in)
	waitDelivered(t, in, []string{poison}, "the DLQ reader")
	m, w := in.ByBody()[poison], sent[poison]
	// The broker counts reconsumes of the stored message, which the
	// client's local retries never changed: 0 + 1.
	if in.Len() != 1 || m.GetKeys() != w.keys || m.GetTags() != w.tags || m.MsgId != w.msgID || m.ReconsumeTimes != 1 ||
		m.GetProperty("DLQ_ORIGIN_TOPIC") != topic {
		t.Errorf("DLQ holds %d messages; poison has keys %q tags %q msgId %s reconsumeTimes %d DLQ_ORIGIN_TOPIC %q; want 1, %q %q %s 1 %q",
			in.Len(), m.GetKeys(), m.GetTags(), m.MsgId, m.ReconsumeTimes, m.GetProperty("DLQ_ORIGIN_TOPIC"), w.keys, w.tags, w.msgID, topic)
	}
}
