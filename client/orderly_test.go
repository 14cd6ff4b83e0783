package client

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// An orderly consumer sees each queue's messages in queue order, retries a
// failing message in place and dead-letters it after MaxReconsumeTimes,
// then goes on with the rest in order.
func TestOrderlyConsumerKeepsOrderAndDeadLetters(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Ordered", 2)
	p := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.Selector = HashSelector{} })
	const perKey = 20
	for i := range perKey {
		for _, key := range []string{"k1", "k2"} {
			if _, err := p.Send(testCtx(t), &Message{Topic: "Ordered", Body: []byte(key + ":" + strconv.Itoa(i)), ShardingKey: key}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	seen := map[string][]int{} // key → sequence numbers consumed, in order
	var poisonCalls atomic.Int32
	pc := newTestConsumer(t, c, "gorder", "Ordered", "o1", func(cfg *PushConsumerConfig) {
		cfg.MaxReconsumeTimes = 2
		cfg.SuspendCurrentQueueTime = 10 * time.Millisecond
		cfg.Orderly = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			m := msgs[0]
			if string(m.Body) == "k1:5" {
				poisonCalls.Add(1)
				return SuspendCurrentQueueAMoment
			}
			key := string(m.Body[:2])
			seq, _ := strconv.Atoi(string(m.Body[3:]))
			mu.Lock()
			seen[key] = append(seen[key], seq)
			mu.Unlock()
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen["k1"]) == perKey-1 && len(seen["k2"]) == perKey
	})
	mu.Lock()
	for key, seqs := range seen {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("key %s consumed out of order: %v", key, seqs)
			}
		}
	}
	mu.Unlock()
	if n := poisonCalls.Load(); n != 3 {
		t.Fatalf("poison message tried %d times, want 3", n)
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return len(c.AllMessages("%DLQ%gorder")) == 1 })
	if got := string(c.AllMessages("%DLQ%gorder")[0].Body); got != "k1:5" {
		t.Fatalf("DLQ holds %q", got)
	}
	// The member holds the broker locks of its queues while it runs.
	for _, mq := range topicQueues(pc.Assignment(), "Ordered") {
		if !pc.table.get(mq).isLocked() {
			t.Fatalf("queue %s consumed without its lock", mq)
		}
	}
}

// A second orderly member gets queues only once the first releases them
// (its Close unlocks them).
func TestOrderlyLocksHandOver(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Locked", 2)
	listener := func(context.Context, []*MessageExt) ConsumeResult { return ConsumeSuccess }
	o1 := newTestConsumer(t, c, "glock", "Locked", "l1", func(cfg *PushConsumerConfig) { cfg.Orderly = listener })
	testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(o1.Assignment(), "Locked")) == 2 })
	o2 := newTestConsumer(t, c, "glock", "Locked", "l2", func(cfg *PushConsumerConfig) {
		cfg.Orderly = listener
		cfg.RebalanceInterval = 100 * time.Millisecond
	})
	testserver.Eventually(t, 10*time.Second, func() bool { return splitsExactly("Locked", 2, o1, o2) })
	o1.Close()
	testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(o2.Assignment(), "Locked")) == 2 })
}
