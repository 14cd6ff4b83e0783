package client

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// TestConsumerRunningInfo: an admin asks a broker, the broker asks the
// consumer over its connection, and the consumer reports its settings,
// subscriptions and owned queues with their offsets.
func TestConsumerRunningInfo(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Info", 2)
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Info", "i", 4)
	var consumed atomic.Int32
	pc := newTestConsumer(t, c, "ginfo", "Info", "info1", func(cfg *PushConsumerConfig) {
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			consumed.Add(int32(len(msgs)))
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 10*time.Second, func() bool { return consumed.Load() == 4 })
	a := newTestAdmin(t, c)
	info, err := a.ConsumerRunningInfo(testCtx(t), "ginfo", pc.inst.clientID, true)
	if err != nil {
		t.Fatal(err)
	}
	if info.Properties["PROP_CONSUME_TYPE"] != "CONSUME_PASSIVELY" || info.Properties["PROP_CONSUMEORDERLY"] != "false" ||
		info.Properties["consumerGroup"] != "ginfo" || info.Properties["PROP_CONSUMER_START_TIMESTAMP"] == "" {
		t.Fatalf("properties %v", info.Properties)
	}
	topics := map[string]bool{}
	for _, s := range info.Subscriptions {
		topics[s.Topic] = true
	}
	if !topics["Info"] || !topics["%RETRY%ginfo"] {
		t.Fatalf("subscriptions %+v", info.Subscriptions)
	}
	var next int64
	for _, q := range []int{0, 1} {
		mq := MessageQueue{Topic: "Info", BrokerName: c.Brokers[0].Name, QueueID: q}
		qi, ok := info.Queues[mq]
		if !ok || qi.Dropped || qi.CachedMsgCount != 0 || qi.LastPullTimestamp == 0 {
			t.Fatalf("queue %s: %+v (present %v)", mq, qi, ok)
		}
		next += pc.table.get(mq).nextOffset()
	}
	if next != 4 {
		t.Fatalf("the queues' next offsets add up to %d, want 4", next)
	}
	if !strings.Contains(info.Stack, "goroutine") {
		t.Fatal("no goroutine dump though one was asked for")
	}
	if _, err := a.ConsumerRunningInfo(testCtx(t), "ginfo", "no-such-client", false); err == nil || !strings.Contains(err.Error(), "not online") {
		t.Fatalf("unknown client: %v", err)
	}
}

// TestConsumeMessageDirectly: a stored message is run once through a
// member's listener on an admin's request; the answer says what the
// listener returned, and nothing is committed or retried.
func TestConsumeMessageDirectly(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Direct", 1)
	p := newTestProducer(t, c, nil)
	res, err := p.Send(testCtx(t), NewMessage("Direct", []byte("probe")))
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(chan string, 4)
	var fail atomic.Bool
	pc := newTestConsumer(t, c, "gdirect", "Direct", "direct1", func(cfg *PushConsumerConfig) {
		cfg.ConsumeFrom = ConsumeFromLastOffset
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			bodies <- string(msgs[0].Body)
			if fail.Load() {
				return ReconsumeLater
			}
			return ConsumeSuccess
		}
	})
	a := newTestAdmin(t, c)
	for _, tc := range []struct {
		fail bool
		want string
	}{{false, "CR_SUCCESS"}, {true, "CR_LATER"}} {
		fail.Store(tc.fail)
		out, err := a.ConsumeMessageDirectly(testCtx(t), "gdirect", pc.inst.clientID, res.OffsetMsgID)
		if err != nil {
			t.Fatal(err)
		}
		if out.ConsumeResult != tc.want || out.Order || !out.AutoCommit {
			t.Fatalf("result %+v, want %s", out, tc.want)
		}
		if b := <-bodies; b != "probe" {
			t.Fatalf("listener got %q", b)
		}
	}
	if got := c.AllMessages("%RETRY%gdirect"); len(got) != 0 {
		t.Fatalf("a direct CR_LATER was retried: %d messages in the retry topic", len(got))
	}
}
