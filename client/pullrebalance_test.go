package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

func newSubscribedPuller(t *testing.T, c *testserver.Cluster, instance string) *PullConsumer {
	t.Helper()
	pc, err := NewPullConsumer(PullConsumerConfig{
		Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: instance, Logger: quietLogger()},
		Group:  "gsubpull", ConsumeFrom: ConsumeFromFirstOffset, PullBatchSize: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if err := pc.Subscribe(testCtx(t), "SubPulled", "*"); err != nil {
		t.Fatal(err)
	}
	return pc
}

// pollAll polls pc into got until ctx ends.
func pollAll(ctx context.Context, pc *PullConsumer, got *received, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		msgs, err := pc.Poll(ctx)
		if err != nil {
			return
		}
		got.add(msgs)
		pc.Commit(ctx)
	}
}

// TestPullConsumerSubscribeRebalances: two subscribed pull consumers of a
// group split a topic's queues without overlap and each message is polled
// once; when one closes (after committing), the other takes its queues
// from the committed offsets, so nothing is polled twice or lost.
func TestPullConsumerSubscribeRebalances(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("SubPulled", 4)
	a := newSubscribedPuller(t, c, "sub-a")
	b := newSubscribedPuller(t, c, "sub-b")
	testserver.Eventually(t, 10*time.Second, func() bool {
		qa, qb := a.Assignment(), b.Assignment()
		if len(qa) != 2 || len(qb) != 2 {
			return false
		}
		for _, q := range qa {
			for _, r := range qb {
				if q == r {
					return false
				}
			}
		}
		return true
	})
	p := newTestProducer(t, c, nil)
	first := sendN(t, p, "SubPulled", "first", 40)
	gotA, gotB := newReceived(), newReceived()
	// Pollers live until stopped, not until testCtx's deadline.
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wgA, wgB sync.WaitGroup
	wgA.Add(1)
	wgB.Add(1)
	go pollAll(ctxA, a, gotA, &wgA)
	go pollAll(ctxB, b, gotB, &wgB)
	both := func() *received {
		all := newReceived()
		for _, r := range []*received{gotA, gotB} {
			r.mu.Lock()
			for id, n := range r.ids {
				all.ids[id] += n
			}
			r.mu.Unlock()
		}
		return all
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return both().hasAll(first) })
	stopA()
	wgA.Wait()
	if err := a.Commit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	testserver.Eventually(t, 10*time.Second, func() bool { return len(b.Assignment()) == 4 })
	second := sendN(t, p, "SubPulled", "second", 40)
	testserver.Eventually(t, 10*time.Second, func() bool { return gotB.hasAll(second) })
	stopB()
	wgB.Wait()
	for id, n := range both().ids {
		if n != 1 {
			t.Fatalf("message %s polled %d times", id, n)
		}
	}
}

// TestPullConsumerAssignOrSubscribe: the two modes exclude each other.
func TestPullConsumerAssignOrSubscribe(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("SubPulled", 1)
	pc := newSubscribedPuller(t, c, "sub-x")
	if err := pc.Assign(testCtx(t), "*", MessageQueue{Topic: "SubPulled", BrokerName: c.Brokers[0].Name}); err == nil {
		t.Fatal("Assign after Subscribe succeeded")
	}
}
