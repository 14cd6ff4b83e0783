package client

import (
	"context"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// TestIdlePullRestartsQueue: a queue whose pull has not started for
// PullMaxIdleTime (here a long poll on an empty queue outlasts it) is
// replaced by a fresh one at the next rebalance, RocketMQ's remedy for a
// stalled pull; the fresh one still consumes.
func TestIdlePullRestartsQueue(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Idle", 1)
	got := make(chan string, 1)
	pc := newTestConsumer(t, c, "gidle", "Idle", "idle1", func(cfg *PushConsumerConfig) {
		cfg.PullMaxIdleTime = 200 * time.Millisecond
		cfg.RebalanceInterval = 50 * time.Millisecond
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			got <- string(msgs[0].Body)
			return ConsumeSuccess
		}
	})
	mq := MessageQueue{Topic: "Idle", BrokerName: c.Brokers[0].Name, QueueID: 0}
	var first *processQueue
	testserver.Eventually(t, 10*time.Second, func() bool { first = pc.table.get(mq); return first != nil })
	testserver.Eventually(t, 10*time.Second, func() bool {
		pq := pc.table.get(mq)
		return pq != nil && pq != first
	})
	if !first.isDropped() {
		t.Fatal("the idle queue was replaced but not dropped")
	}
	p := newTestProducer(t, c, nil)
	if _, err := p.Send(testCtx(t), NewMessage("Idle", []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if body := <-got; body != "after" {
		t.Fatalf("consumed %q", body)
	}
}

// TestFlowControlIsNotIdle: waiting for the listener to make room (or
// consuming, for an orderly queue) does not count towards PullMaxIdleTime.
func TestFlowControlIsNotIdle(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Busy", 1)
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Busy", "b", 3)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	pc := newTestConsumer(t, c, "gbusy", "Busy", "busy1", func(cfg *PushConsumerConfig) {
		cfg.PullThresholdForQueue = 1
		cfg.PullBatchSize = 1
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			return ConsumeSuccess
		}
	})
	defer close(release)
	<-entered
	mq := MessageQueue{Topic: "Busy", BrokerName: c.Brokers[0].Name, QueueID: 0}
	pq := pc.table.get(mq)
	testserver.Eventually(t, 10*time.Second, pq.busy.Load)
	if pq.pullIdle(time.Now().Add(time.Hour), time.Minute) {
		t.Fatal("a queue waiting for its listener counts as idle")
	}
}

// TestNextPullGoesOutBeforeTheAnswerIsHandled: the pull loop sends the
// next pull as soon as an answer arrives, before it hands the answer's
// messages on, so the broker holds a pull while they are consumed. With a
// threshold of one message and the listener stuck on the first, the second
// message is still delivered: the pull that fetches it was sent while the
// queue held nothing (one batch over the threshold, as documented).
func TestNextPullGoesOutBeforeTheAnswerIsHandled(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Ahead", 1)
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Ahead", "a", 1)
	release := make(chan struct{})
	got := make(chan string, 2)
	newTestConsumer(t, c, "gahead", "Ahead", "ahead1", func(cfg *PushConsumerConfig) {
		cfg.PullThresholdForQueue = 1
		cfg.PullBatchSize = 1
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			got <- string(msgs[0].Body)
			<-release
			return ConsumeSuccess
		}
	})
	defer close(release)
	if b := <-got; b != "a-0" {
		t.Fatalf("consumed %q first", b)
	}
	sendN(t, p, "Ahead", "b", 1)
	select {
	case b := <-got:
		if b != "b-0" {
			t.Fatalf("consumed %q second", b)
		}
	case <-testCtx(t).Done():
		t.Fatal("the second message was not delivered while the first was being consumed")
	}
}
