package client

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// unreachable makes m's send-back fail as if the broker it came from had
// gone: CONSUMER_SEND_MSG_BACK goes to the broker named in m.Queue.
func unreachable(m *MessageExt) { m.Queue.BrokerName = "gone-broker" }

// TestSendBackFallsBackToRetryTopic: when CONSUMER_SEND_MSG_BACK fails,
// the failed message is sent to %RETRY%<group> like a new message and
// comes back through it, with its id, its original topic and one more
// reconsume time.
func TestSendBackFallsBackToRetryTopic(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Fallback", 1)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Fallback", "f", 3)
	var mu sync.Mutex
	attempts := make(map[string][]MessageExt)
	done := newReceived()
	newTestConsumer(t, c, "gfallback", "Fallback", "fb1", func(cfg *PushConsumerConfig) {
		cfg.LocalRetryDelay = time.Hour // a local retry would not come back in time
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			m := msgs[0]
			attempts[m.MsgID] = append(attempts[m.MsgID], *m)
			if len(attempts[m.MsgID]) == 1 {
				unreachable(m)
				return ReconsumeLater
			}
			done.add(msgs)
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool { return done.hasAll(ids) })
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		a := attempts[id]
		if len(a) != 2 {
			t.Fatalf("message %s consumed %d times", id, len(a))
		}
		second := a[1]
		if second.Topic != "Fallback" || second.Queue.Topic != "%RETRY%gfallback" || second.ReconsumeTimes != 1 ||
			string(second.Body) != string(a[0].Body) || second.Properties["ORIGIN_MESSAGE_ID"] != id {
			t.Fatalf("redelivery: topic %s queue %s reconsume %d body %q props %v",
				second.Topic, second.Queue, second.ReconsumeTimes, second.Body, second.Properties)
		}
	}
}

// TestRetryTopicFallbackDeadLetters: the fallback copy carries the
// reconsume times and their limit in the send header, so the broker
// dead-letters it once they run out. With MaxReconsumeTimes 1, a
// send-back would have stored the first failure as a retry; the
// fallback's copy (reconsume times 1, limit 1) goes to the DLQ at once.
func TestRetryTopicFallbackDeadLetters(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("FallbackDLQ", 1)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "FallbackDLQ", "d", 1)
	var calls atomic.Int32
	newTestConsumer(t, c, "gfallbackdlq", "FallbackDLQ", "fd1", func(cfg *PushConsumerConfig) {
		cfg.MaxReconsumeTimes = 1
		cfg.LocalRetryDelay = time.Hour
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			calls.Add(1)
			unreachable(msgs[0])
			return ReconsumeLater
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool { return len(c.AllMessages("%DLQ%gfallbackdlq")) == 1 })
	dlq := c.AllMessages("%DLQ%gfallbackdlq")[0]
	if dlq.Properties["UNIQ_KEY"] != ids[0] || dlq.ReconsumeTimes != 1 || dlq.Properties["RETRY_TOPIC"] != "FallbackDLQ" {
		t.Fatalf("DLQ message %v reconsumeTimes %d", dlq.Properties, dlq.ReconsumeTimes)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("listener called %d times, want 1", n)
	}
	if got := c.AllMessages("%RETRY%gfallbackdlq"); len(got) != 0 {
		t.Fatalf("%d messages in the retry topic", len(got))
	}
}
