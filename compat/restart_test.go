package compat

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// TestOffsetsSurviveGracefulRestart consumes with a group, stops the
// consumer (which commits its offsets), stops petrel with SIGTERM and
// starts it again on the same data: the broker still has the group's
// offsets, and the group resumes exactly where it committed.
func TestOffsetsSurviveGracefulRestart(t *testing.T) {
	p := startPetrel(t)
	const topic, group, probeTopic, queues = "Resume", "ResumeGroup", "ResumeProbe", 4
	createTopic(t, p, topic, queues)
	createTopic(t, p, probeTopic, 1)
	mqs, err := publishQueues(t, p, topic)
	if err != nil {
		t.Fatalf("route of %s: %v", topic, err)
	}

	prod := newProducer(t, p)
	consumed := bodies("consumed", 20)
	sendAllSync(t, prod, topic, consumed)
	in := newInbox()
	c := startPushConsumer(t, p, group, topic, "*", in)
	waitDelivered(t, in, consumed, "the consumer")
	// The client advances its offset just after the callback returns; wait
	// for that so the shutdown commits everything that was consumed.
	var want map[int]int64
	eventually(t, deliverTimeout, func() bool {
		want = c.OwnedQueues(topic)
		var sum int64
		for _, off := range want {
			sum += off
		}
		return len(want) == queues && sum == int64(len(consumed))
	}, func() string {
		return fmt.Sprintf("consumer's offsets %v do not cover the %d consumed messages", want, len(consumed))
	})
	c.Shutdown()

	// The shutdown's UPDATE_CONSUMER_OFFSETs are fire-and-forget; wait until
	// the broker answers QUERY_CONSUMER_OFFSET with them before stopping it.
	var got map[int]int64
	eventually(t, deliverTimeout, func() bool {
		got = committedOffsets(t, p, group, probeTopic, mqs)
		return maps.Equal(got, want)
	}, func() string {
		return fmt.Sprintf("broker reports offsets %v for %s, consumer committed %v", got, group, want)
	})

	pending := bodies("pending", 10) // stored before the restart, never consumed
	sendAllSync(t, prod, topic, pending)
	prod.Shutdown()

	p.Stop(t)
	p.Restart(t)

	// The probe is briefly a member of the group; that it leaves no trace
	// in the group is TestGroupForgetsConsumerClosedMidHeartbeat's concern.
	if got := committedOffsets(t, p, group, probeTopic, mqs); !maps.Equal(got, want) {
		t.Errorf("after a graceful restart the broker reports offsets %v for %s, want the committed %v", got, group, want)
	}
	later := bodies("later", 10)
	sendAllSync(t, newProducer(t, p), topic, later)

	resumed := newInbox()
	startPushConsumer(t, p, group, topic, "*", resumed)
	expect := append(append([]string(nil), pending...), later...)
	waitDelivered(t, resumed, expect, "the consumer")
	for _, b := range consumed {
		if resumed.Count(b) > 0 {
			t.Errorf("%s was consumed and committed before the restart but delivered again", b)
		}
	}
	if d := resumed.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}
}

// TestSyncFlushKillNine sends from several goroutines to a SYNC_FLUSH
// broker, kills it with SIGKILL in the middle, restarts it on the same
// data, and requires every message acknowledged SEND_OK to be delivered.
func TestSyncFlushKillNine(t *testing.T) {
	p := startPetrel(t, "flushDiskType=SYNC_FLUSH")
	const topic, senders, killAfter = "Durable", 4, 1000
	createTopic(t, p, topic, 4)
	prod := newProducer(t, p)

	var (
		mu        sync.Mutex
		acked     []string
		attempted = map[string]bool{}
		wg        sync.WaitGroup
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each sender stops at its first failure, which the kill causes.
			for i := 0; ; i++ {
				body := fmt.Sprintf("sender%d-%06d", g, i)
				mu.Lock()
				attempted[body] = true
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				res, err := prod.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
				cancel()
				if err != nil {
					return
				}
				if res.Status == primitive.SendOK {
					mu.Lock()
					acked = append(acked, body)
					mu.Unlock()
				}
			}
		}()
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	eventually(t, deliverTimeout, func() bool { return ackedCount() >= killAfter },
		func() string { return fmt.Sprintf("only %d sends acknowledged", ackedCount()) })
	p.Kill(t)
	select {
	case <-sendersDone:
	case <-time.After(deliverTimeout):
		t.Fatalf("senders still running %v after the kill", deliverTimeout)
	}
	prod.Shutdown()
	t.Logf("%d sends acknowledged SEND_OK before the kill, %d attempted", len(acked), len(attempted))

	p.Restart(t)
	in := newInbox()
	startPushConsumer(t, p, "DurableGroup", topic, "*", in)
	waitDelivered(t, in, acked, "after kill -9 and restart, the consumer of acknowledged messages")
	for _, m := range in.Messages() {
		if !attempted[string(m.Body)] {
			t.Errorf("delivered a message nobody sent: %q", m.Body)
		}
	}
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("messages stored twice (a sender never retried against a live broker): %v", d)
	}
	t.Logf("%d messages delivered after restart (%d acknowledged)", in.Len(), len(acked))
}
