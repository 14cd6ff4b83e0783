package compat

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// fastRetryDelays makes every delay level 1 s (the shortest the broker
// accepts), so a retry (level 3 + reconsume times, 10 s and up by
// default) comes back within a test's time.
var fastRetryDelays = "messageDelayLevel=" + strings.TrimSpace(strings.Repeat("1s ", 18))

// createRetryTopic creates group's retry topic as the broker would (one
// queue) before the group's first consumer starts. The broker creates it
// at the consumer's first heartbeat, which the Go client sends after its
// initial route query, so without this the client would find the retry
// topic only at its next route refresh (up to 30 s later) and retries
// would wait for that.
func createRetryTopic(t *testing.T, p *Petrel, group string) {
	t.Helper()
	createTopic(t, p, "%RETRY%"+group, 1)
}

// delivery is what a consume callback saw of one message, copied in the
// callback because the client keeps using its MessageExt afterwards.
type delivery struct {
	body, topic, tags, keys, msgID string
	reconsumeTimes                 int32
	props                          map[string]string
}

func deliveryOf(m *primitive.MessageExt) delivery {
	return delivery{
		body: string(m.Body), topic: m.Topic, tags: m.GetTags(), keys: m.GetKeys(), msgID: m.MsgId,
		reconsumeTimes: m.ReconsumeTimes, props: maps.Clone(m.GetProperties()),
	}
}

// failingHandler is a push-consumer callback that asks for a retry
// (ConsumeRetryLater) while fail says so for a body and delivery number
// (1 for the first delivery), and records every delivery.
type failingHandler struct {
	fail func(body string, n int) bool

	mu   sync.Mutex
	seen map[string][]delivery
}

func newFailingHandler(fail func(body string, n int) bool) *failingHandler {
	return &failingHandler{fail: fail, seen: map[string][]delivery{}}
}

func (h *failingHandler) Handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	result := consumer.ConsumeSuccess
	for _, m := range msgs {
		d := deliveryOf(m)
		h.seen[d.body] = append(h.seen[d.body], d)
		if h.fail(d.body, len(h.seen[d.body])) {
			result = consumer.ConsumeRetryLater
		}
	}
	return result, nil
}

// deliveries returns body's deliveries so far, in order.
func (h *failingHandler) deliveries(body string) []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.seen[body]...)
}

// waitCount waits until every body was delivered at least n times.
func (h *failingHandler) waitCount(t testing.TB, bs []string, n int) {
	t.Helper()
	eventually(t, deliverTimeout, func() bool {
		for _, b := range bs {
			if len(h.deliveries(b)) < n {
				return false
			}
		}
		return true
	}, func() string {
		var short []string
		for _, b := range bs {
			if got := len(h.deliveries(b)); got < n {
				short = append(short, fmt.Sprintf("%s:%d", b, got))
			}
		}
		return fmt.Sprintf("bodies delivered fewer than %d times: %v", n, short)
	})
}

// sentMessage is what a test sent, to compare deliveries with.
type sentMessage struct {
	tags, keys, msgID string
}

// sendTagged sends each body with a tag and two keys and returns what was
// sent, by body.
func sendTagged(t *testing.T, p *Petrel, topic string, bs []string) map[string]sentMessage {
	t.Helper()
	prod := newProducer(t, p)
	sent := map[string]sentMessage{}
	for i, b := range bs {
		tag := []string{"TagA", "TagB"}[i%2]
		msg := primitive.NewMessage(topic, []byte(b)).WithTag(tag).WithKeys([]string{"k-" + b, "order-" + b})
		res, err := prod.SendSync(opContext(t), msg)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("SendSync %s: %v %v", b, res, err)
		}
		sent[b] = sentMessage{tags: tag, keys: "k-" + b + " order-" + b, msgID: res.MsgID}
	}
	return sent
}

// TestReconsumeLaterThenSuccess returns ConsumeRetryLater for each
// message's first delivery and ConsumeSuccess after. The client sends each
// message back (CONSUMER_SEND_MSG_BACK, delay level 0: the broker picks
// 3 + reconsume times); the broker stores it in %RETRY%<group> after the
// delay, and the consumer, subscribed to that topic automatically, gets it
// once more: ReconsumeTimes 1, the original topic (the client restores it
// from RETRY_TOPIC), the same tags, keys and message id.
func TestReconsumeLaterThenSuccess(t *testing.T) {
	p := startPetrel(t, fastRetryDelays)
	const topic, group = "Retried", "RetriedGroup"
	createTopic(t, p, topic, 2)
	createRetryTopic(t, p, group)

	h := newFailingHandler(func(_ string, n int) bool { return n == 1 })
	c, err := openPushConsumer(p, group, topic, "*", h.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })

	all := bodies("retried", 6)
	sent := sendTagged(t, p, topic, all)
	h.waitCount(t, all, 2)

	// A sentinel failed after the others came back goes through the same
	// delay level and the retry topic's single queue, so once its retry is
	// in, a second retry copy of any earlier message would have been too.
	sentinel := "retried-sentinel"
	maps.Copy(sent, sendTagged(t, p, topic, []string{sentinel}))
	h.waitCount(t, []string{sentinel}, 2)

	for _, b := range append(all, sentinel) {
		ds, w := h.deliveries(b), sent[b]
		if len(ds) != 2 {
			t.Errorf("%s delivered %d times, want twice (first failed, retry succeeded)", b, len(ds))
			continue
		}
		for i, d := range ds {
			if d.topic != topic || d.tags != w.tags || d.keys != w.keys || d.msgID != w.msgID || d.reconsumeTimes != int32(i) {
				t.Errorf("%s delivery %d: topic %q tags %q keys %q msgId %s reconsumeTimes %d; want %q %q %q %s %d",
					b, i+1, d.topic, d.tags, d.keys, d.msgID, d.reconsumeTimes, topic, w.tags, w.keys, w.msgID, i)
			}
		}
		if rt := ds[1].props[primitive.PropertyRetryTopic]; rt != topic {
			t.Errorf("%s retry: RETRY_TOPIC %q, want %q", b, rt, topic)
		}
	}

	// Exactly one copy per failure was stored for retry.
	var stored int64
	for _, n := range topicMaxOffsets(t, p, "%RETRY%"+group) {
		stored += n
	}
	if want := int64(len(all) + 1); stored != want {
		t.Errorf("%%RETRY%%%s holds %d messages, want one per failed delivery, %d", group, stored, want)
	}
}

// TestAlwaysFailingMessageGoesToDLQ consumes with maxReconsumeTimes 2 and
// a callback that never accepts some messages: each is delivered three
// times (reconsume times 0, 1, 2), then the broker moves it to
// %DLQ%<group>, where a consumer of another group subscribed to that
// topic reads it with its tags, keys, id and where it came from. Messages
// the callback accepts never reach the DLQ.
func TestAlwaysFailingMessageGoesToDLQ(t *testing.T) {
	p := startPetrel(t, fastRetryDelays)
	const topic, group, maxReconsume = "Doomed", "DoomedGroup", 2
	const dlq = "%DLQ%" + group
	createTopic(t, p, topic, 2)
	createRetryTopic(t, p, group)

	doomed, fine := bodies("doomed", 4), bodies("fine", 4)
	isDoomed := map[string]bool{}
	for _, b := range doomed {
		isDoomed[b] = true
	}
	h := newFailingHandler(func(b string, _ int) bool { return isDoomed[b] })
	c, err := openPushConsumer(p, group, topic, "*", h.Handle, consumer.WithMaxReconsumeTimes(maxReconsume))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })

	sent := sendTagged(t, p, topic, append(append([]string(nil), doomed...), fine...))
	h.waitCount(t, doomed, maxReconsume+1)

	// The DLQ topic is created (and routed) by the first dead letter.
	eventually(t, deliverTimeout, func() bool {
		mqs, err := publishQueues(t, p, dlq)
		return err == nil && len(mqs) > 0
	}, func() string {
		return fmt.Sprintf("no route for %s after %d failures of each doomed message", dlq, maxReconsume+1)
	})

	in := newInbox()
	startPushConsumer(t, p, "DoomedDLQReader", dlq, "*", in)
	waitDelivered(t, in, doomed, "the DLQ reader")

	for _, b := range doomed {
		ds := h.deliveries(b)
		if len(ds) != maxReconsume+1 {
			t.Errorf("%s delivered %d times to the failing consumer, want %d", b, len(ds), maxReconsume+1)
		}
		for i, d := range ds {
			if d.reconsumeTimes != int32(i) || d.topic != topic {
				t.Errorf("%s delivery %d: reconsumeTimes %d topic %q, want %d %q", b, i+1, d.reconsumeTimes, d.topic, i, topic)
			}
		}
	}
	for _, b := range fine {
		if n := len(h.deliveries(b)); n != 1 {
			t.Errorf("%s (accepted) delivered %d times, want once", b, n)
		}
	}

	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("the DLQ holds some messages more than once: %v", d)
	}
	for b, m := range in.ByBody() {
		w, ok := sent[b]
		if !ok || !isDoomed[b] {
			t.Errorf("the DLQ holds %q, which was never failed", b)
			continue
		}
		if m.Topic != dlq || m.GetTags() != w.tags || m.GetKeys() != w.keys || m.MsgId != w.msgID {
			t.Errorf("%s in the DLQ: topic %q tags %q keys %q msgId %s; want %q %q %q %s",
				b, m.Topic, m.GetTags(), m.GetKeys(), m.MsgId, dlq, w.tags, w.keys, w.msgID)
		}
		if m.ReconsumeTimes != maxReconsume+1 {
			t.Errorf("%s in the DLQ: reconsumeTimes %d, want %d", b, m.ReconsumeTimes, maxReconsume+1)
		}
		for prop, want := range map[string]string{
			primitive.PropertyRetryTopic: topic,
			"DLQ_ORIGIN_TOPIC":           topic,
			"DLQ_ORIGIN_MESSAGE_ID":      w.msgID,
		} {
			if got := m.GetProperty(prop); got != want {
				t.Errorf("%s in the DLQ: property %s = %q, want %q", b, prop, got, want)
			}
		}
	}
}
