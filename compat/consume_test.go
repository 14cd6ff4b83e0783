package compat

import (
	"fmt"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// TestTwoConsumersShareQueues runs two push consumers of one group: the
// broker's membership answers and NOTIFY_CONSUMER_IDS_CHANGED let them
// split the queues, and together they receive every message exactly once.
func TestTwoConsumersShareQueues(t *testing.T) {
	p := startPetrel(t)
	const topic, group, queues = "Shared", "SharedGroup", 4
	createTopic(t, p, topic, queues)

	in1, in2 := newInbox(), newInbox()
	c1 := startPushConsumer(t, p, group, topic, "*", in1)
	c2 := startPushConsumer(t, p, group, topic, "*", in2)

	// Send only once the split has settled: each owns half the queues (the
	// client's default allocation is by averages) and no queue is owned
	// twice. Before that, a queue changing hands may legitimately be read
	// by both.
	eventually(t, deliverTimeout, func() bool {
		q1, q2 := c1.OwnedQueues(topic), c2.OwnedQueues(topic)
		for q := range q1 {
			if _, ok := q2[q]; ok {
				return false
			}
		}
		return len(q1) == queues/2 && len(q2) == queues/2
	}, func() string {
		return fmt.Sprintf("queues not split between the two consumers: first owns %v, second owns %v",
			c1.OwnedQueues(topic), c2.OwnedQueues(topic))
	})

	prod := newProducer(t, p)
	all := bodies("shared", 40)
	sendAllSync(t, prod, topic, all)

	delivered := func(b string) int { return in1.Count(b) + in2.Count(b) }
	eventually(t, deliverTimeout, func() bool {
		for _, b := range all {
			if delivered(b) == 0 {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("messages missing: first consumer got %d, second %d of %d", in1.Len(), in2.Len(), len(all))
	})

	for _, b := range all {
		if n := delivered(b); n != 1 {
			t.Errorf("%s delivered %d times (first consumer %d, second %d), want exactly once", b, n, in1.Count(b), in2.Count(b))
		}
	}
	if in1.Len() == 0 || in2.Len() == 0 {
		t.Errorf("one consumer got nothing: first %d, second %d", in1.Len(), in2.Len())
	}
	if in1.Len()+in2.Len() != len(all) {
		t.Errorf("%d deliveries in all, want %d", in1.Len()+in2.Len(), len(all))
	}
	t.Logf("split: first consumer %d messages (queues %v), second %d (queues %v)",
		in1.Len(), c1.OwnedQueues(topic), in2.Len(), c2.OwnedQueues(topic))
}

// TestTagExpression subscribes with "TagA || TagC" and sends, to every
// queue, messages tagged A, B, C and untagged, then a closing TagA: the
// consumer receives exactly the A and C messages.
func TestTagExpression(t *testing.T) {
	p := startPetrel(t)
	const topic = "Tags"
	createTopic(t, p, topic, 2)
	mqs, err := publishQueues(t, p, topic)
	if err != nil {
		t.Fatalf("route of %s: %v", topic, err)
	}

	in := newInbox()
	startPushConsumer(t, p, "TagsGroup", topic, "TagA || TagC", in)

	prod := newProducer(t, p, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	var want []string
	unwanted := map[string]bool{}
	send := func(mq *primitive.MessageQueue, body, tag string) {
		msg := primitive.NewMessage(topic, []byte(body))
		if tag != "" {
			msg.WithTag(tag)
		}
		msg.Queue = mq
		if res, err := prod.SendSync(opContext(t), msg); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("SendSync %s: %v %v", body, res, err)
		}
		if tag == "TagA" || tag == "TagC" {
			want = append(want, body)
		} else {
			unwanted[body] = true
		}
	}
	for _, mq := range mqs {
		for round := range 3 {
			for _, tag := range []string{"TagA", "TagB", "TagC", ""} {
				send(mq, fmt.Sprintf("q%d-r%d-%s", mq.QueueId, round, tag), tag)
			}
		}
		send(mq, fmt.Sprintf("q%d-closing-TagA", mq.QueueId), "TagA")
	}

	// Each queue is read in order, so once its closing TagA is in, its B
	// and untagged messages were filtered rather than late.
	waitDelivered(t, in, want, "the consumer")
	for _, m := range in.Messages() {
		if unwanted[string(m.Body)] {
			t.Errorf("delivered %s with tags %q to a \"TagA || TagC\" subscription", m.Body, m.GetTags())
		}
	}
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}
}

// TestPullConsumer consumes with the pull consumer's Poll and ACK (as the
// client's own example does, with its default options), then shows the
// ACKs were committed: the same group started again gets only what was
// sent after.
//
// The client commits with fire-and-forget requests as it shuts down, so
// the test waits for the broker to report the commits before it starts
// the group again (pollCommitted; without the wait, a query could
// overtake the last commit).
func TestPullConsumer(t *testing.T) {
	p := startPetrel(t)
	const topic, probeTopic = "Pulled", "PulledProbe"
	createTopic(t, p, topic, 4)
	createTopic(t, p, probeTopic, 1)
	mqs, err := publishQueues(t, p, topic)
	if err != nil {
		t.Fatalf("route of %s: %v", topic, err)
	}
	prod := newProducer(t, p)

	first := bodies("pull-first", 20)
	want := queueCounts(sendAllSync(t, prod, topic, first))
	group, in := pollCommitted(t, p, "PulledGroup", topic, probeTopic, mqs, first, want)
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}
	for _, m := range in.Messages() {
		if m.Topic != topic || m.MsgId == "" {
			t.Errorf("polled %s with topic %q MsgId %q", m.Body, m.Topic, m.MsgId)
		}
	}

	second := bodies("pull-second", 10)
	sendAllSync(t, prod, topic, second)
	again := newInbox()
	pollUntil(t, p, group, topic, again, second)
	for _, b := range first {
		if again.Count(b) > 0 {
			t.Errorf("%s was ACKed by the first pull consumer but delivered again to the group", b)
		}
	}
}
