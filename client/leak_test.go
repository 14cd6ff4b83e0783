package client

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// TestProducerStartCloseLeaksNothing starts a producer, sends with it
// (routes, a connection, a heartbeat) and closes it, 1,000 times: the
// goroutine count and the heap must come back to where they were.
func TestProducerStartCloseLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 producers")
	}
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Leak", 2)
	cycle := func(i int) {
		p, err := NewProducer(ProducerConfig{
			Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "leak", Logger: quietLogger()},
			Group:  "leak",
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(testCtx(t), NewMessage("Leak", []byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle(-1) // warm up pools and the broker's per-topic state
	goroutines, heap := settled(t, -1, 0)
	for i := range 1000 {
		cycle(i)
	}
	// The broker notices closed connections asynchronously: wait for its
	// goroutines to end, then compare.
	settled(t, goroutines, heap)
}

// settled waits until the goroutine count is at most wantG (when >= 0)
// and the live heap at most wantHeap plus 4 MiB of slack for the broker's
// caches (when wantHeap > 0), and returns both.
func settled(t *testing.T, wantG int, wantHeap uint64) (int, uint64) {
	t.Helper()
	const slack = 4 << 20
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g := runtime.NumGoroutine()
		if (wantG < 0 || g <= wantG) && (wantHeap == 0 || ms.HeapAlloc <= wantHeap+slack) {
			return g, ms.HeapAlloc
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d (baseline %d), heap %d bytes (baseline %d)\n%s",
				g, wantG, ms.HeapAlloc, wantHeap, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConsumerStartCloseLeaksNothing starts a push consumer (heartbeat,
// rebalance, pull loops held by the broker's long polling), waits for it
// to own its queues and closes it, 300 times; a pull consumer and an admin
// client go the same way. Goroutines and heap must come back to the
// baseline.
func TestConsumerStartCloseLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("300 consumers")
	}
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("LeakC", 2)
	cfg := Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "leakc", Logger: quietLogger()}
	cycle := func() {
		pc, err := NewPushConsumer(PushConsumerConfig{Config: cfg, Group: "leakc",
			Listener: func(context.Context, []*MessageExt) ConsumeResult { return ConsumeSuccess }})
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.Subscribe("LeakC", "*"); err != nil {
			t.Fatal(err)
		}
		if err := pc.Start(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(pc.Assignment(), "LeakC")) == 2 })
		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
		pull, err := NewPullConsumer(PullConsumerConfig{Config: cfg, Group: "leakp"})
		if err != nil {
			t.Fatal(err)
		}
		if err := pull.Assign(testCtx(t), "*", MessageQueue{Topic: "LeakC", BrokerName: "broker-0"}); err != nil {
			t.Fatal(err)
		}
		pull.Close()
		a, err := NewAdmin(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Route(testCtx(t), "LeakC"); err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
	cycle()
	goroutines, heap := settled(t, -1, 0)
	for range 300 {
		cycle()
	}
	settled(t, goroutines, heap)
}
