package client

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

const (
	// leakCycles is how many times TestClientsStartCloseLeakNothing starts
	// and closes its producer, push consumer and admin client (issue 6:
	// 1,000).
	leakCycles = 1000
	// pullEvery: a pull consumer joins every pullEvery-th cycle (334 of
	// them): the pull consumer in every cycle took the test past 20 s
	// under -race on two cores; this way it takes 13-18 s.
	pullEvery = 3
)

// TestClientsStartCloseLeakNothing starts a producer, a push consumer and
// an admin client, each its own client instance (own connections,
// heartbeats, route refresh), uses each once and closes them, 1,000
// times. Each cycle the producer sends one message; the push consumer
// (heartbeat, rebalance, a pull loop per queue) consumes it, and no
// message of an earlier cycle, since each Close commits its offsets; the
// admin client reads the group's consume stats after the push consumer
// closed and finds every message stored and no lag. Every third cycle a
// pull consumer is also assigned a queue (its fetcher long-polls) and
// closed. After the last cycle the goroutine count and the live heap must
// come back to where they were after the first.
func TestClientsStartCloseLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 cycles of four clients")
	}
	c := testserver.Start(t, testserver.Options{})
	const topic, group = "Leak", "leak"
	c.CreateTopic(topic, 2)
	config := func(instance string) Config {
		return Config{NameServers: []string{c.NamesrvAddr}, InstanceName: instance, Logger: quietLogger()}
	}
	// The listener hands over what it consumes; the cycle waits for its own
	// message and reports any other.
	consumed := make(chan string, 64)
	listener := func(_ context.Context, msgs []*MessageExt) ConsumeResult {
		for _, m := range msgs {
			consumed <- string(m.Body)
		}
		return ConsumeSuccess
	}
	sent := 0
	cycle := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		body := strconv.Itoa(i)

		p, err := NewProducer(ProducerConfig{Config: config("leak-producer"), Group: "leak-producer"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(ctx, NewMessage(topic, []byte(body))); err != nil {
			t.Fatalf("cycle %d: send: %v", i, err)
		}
		sent++

		pc, err := NewPushConsumer(PushConsumerConfig{Config: config("leak-push"), Group: group,
			ConsumeFrom: ConsumeFromFirstOffset, Listener: listener})
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.Subscribe(topic, "*"); err != nil {
			t.Fatal(err)
		}
		if err := pc.Start(ctx); err != nil {
			t.Fatalf("cycle %d: start push consumer: %v", i, err)
		}
		for got := ""; got != body; {
			select {
			case got = <-consumed:
				if got != body {
					t.Fatalf("cycle %d: consumed %q again, a message an earlier consumer of the group consumed and committed", i, got)
				}
			case <-ctx.Done():
				t.Fatalf("cycle %d: message %q not consumed; the consumer owns %v", i, body, pc.Assignment())
			}
		}

		if i%pullEvery == 0 {
			pull, err := NewPullConsumer(PullConsumerConfig{Config: config("leak-pull"), Group: "leak-pull"})
			if err != nil {
				t.Fatal(err)
			}
			if err := pull.Assign(ctx, "*", MessageQueue{Topic: topic, BrokerName: c.Brokers[0].Name}); err != nil {
				t.Fatalf("cycle %d: assign: %v", i, err)
			}
			if err := pull.Close(); err != nil {
				t.Fatal(err)
			}
		}

		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}

		a, err := NewAdmin(config("leak-admin"))
		if err != nil {
			t.Fatal(err)
		}
		stats, err := a.ConsumeStats(ctx, group, topic)
		if err != nil {
			t.Fatalf("cycle %d: consume stats: %v", i, err)
		}
		var stored, lag int64
		for _, s := range stats {
			stored += s.BrokerOffset
			lag += s.Lag
		}
		if len(stats) != 2 || stored != int64(sent) || lag != 0 {
			t.Fatalf("cycle %d: after the consumer closed, %d queues hold %d messages (want 2 and %d) with lag %d (want 0): %+v",
				i, len(stats), stored, sent, lag, stats)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle(-1) // warm up pools and the broker's per-topic and per-group state
	goroutines, heap := settled(t, -1, 0)
	for i := range leakCycles {
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
