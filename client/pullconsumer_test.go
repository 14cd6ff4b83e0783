package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPullConsumerPollAndCommit(t *testing.T) {
	c := startCluster(t, 2)
	c.CreateTopic("Pulled", 2)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Pulled", "p", 50)
	pc, err := NewPullConsumer(PullConsumerConfig{
		Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "puller", Logger: quietLogger()},
		Group:  "gpull", ConsumeFrom: ConsumeFromFirstOffset, PullBatchSize: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := testCtx(t)
	qs, err := pc.Queues(ctx, "Pulled")
	if err != nil || len(qs) != 4 {
		t.Fatalf("queues %v, %v", qs, err)
	}
	if err := pc.Assign(ctx, "*", qs...); err != nil {
		t.Fatal(err)
	}
	got := newReceived()
	for !got.hasAll(ids) {
		msgs, err := pc.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 8 {
			t.Fatalf("poll returned %d messages; batch size is 8", len(msgs))
		}
		got.add(msgs)
	}
	if err := pc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, b := range c.Brokers {
		for q := range 2 {
			total += committedOffset(c, b, "gpull", "Pulled", q)
		}
	}
	if total != 50 {
		t.Fatalf("committed offsets add up to %d, want 50", total)
	}
	// Nothing more to poll: Poll waits for its context.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := pc.Poll(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll of drained queues: %v", err)
	}
	// Unassigning a queue stops it; a new consumer of the group resumes
	// at the committed offsets.
	if err := pc.Assign(ctx, "*", qs[0]); err != nil {
		t.Fatal(err)
	}
	more := sendN(t, p, "Pulled", "q", 10)
	pc.Close()
	pc2, err := NewPullConsumer(PullConsumerConfig{
		Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "puller2", Logger: quietLogger()},
		Group:  "gpull",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc2.Close()
	if err := pc2.Assign(ctx, "*", qs...); err != nil {
		t.Fatal(err)
	}
	again := newReceived()
	for !again.hasAll(more) {
		msgs, err := pc2.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again.add(msgs)
	}
	again.mu.Lock()
	defer again.mu.Unlock()
	for _, id := range ids {
		if again.ids[id] > 0 {
			t.Fatalf("committed message %s polled again", id)
		}
	}
}
