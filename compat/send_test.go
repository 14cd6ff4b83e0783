package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// queueSlot is a message's place in a topic: queue id and queue offset.
type queueSlot struct {
	queue  int
	offset int64
}

// TestSendModes sends with every mode the Go client has (sync, async,
// oneway, batch) and consumes everything back: each body exactly once, and
// for acknowledged single sends at the message id, queue and queue offset
// the send result promised.
func TestSendModes(t *testing.T) {
	p := startPetrel(t)
	const topic = "SendModes"
	createTopic(t, p, topic, 4)
	prod := newProducer(t, p)

	// Sync, with one body over the client's 4 KiB compression threshold so
	// a compressed (sysFlag bit 0) message makes the round trip too.
	syncBodies := bodies("sync", 10)
	big := "sync-big-" + strings.Repeat("0123456789abcdef", 1024)
	syncBodies = append(syncBodies, big)
	syncResults := sendAllSync(t, prod, topic, syncBodies)

	asyncBodies := bodies("async", 10)
	asyncResults := sendAllAsync(t, prod, topic, asyncBodies)

	onewayBodies := bodies("oneway", 10)
	onewayIDs := map[string]string{}
	for _, b := range onewayBodies {
		msg := primitive.NewMessage(topic, []byte(b))
		if err := prod.SendOneWay(opContext(t), msg); err != nil {
			t.Fatalf("SendOneWay %s: %v", b, err)
		}
		onewayIDs[b] = msg.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
	}

	var batchBodies []string
	var batchResults []*primitive.SendResult
	for i := range 2 {
		bs := bodies(fmt.Sprintf("batch%d", i), 5)
		var msgs []*primitive.Message
		for _, b := range bs {
			msgs = append(msgs, primitive.NewMessage(topic, []byte(b)))
		}
		res, err := prod.SendSync(opContext(t), msgs...)
		if err != nil {
			t.Fatalf("batch SendSync: %v", err)
		}
		if res.Status != primitive.SendOK {
			t.Fatalf("batch SendSync: status %d, want SEND_OK (%v)", res.Status, res)
		}
		batchBodies = append(batchBodies, bs...)
		batchResults = append(batchResults, res)
	}

	// Every acknowledged single send got its own queue slot.
	slots := map[queueSlot]string{}
	for i, res := range append(append([]*primitive.SendResult(nil), syncResults...), asyncResults...) {
		s := queueSlot{res.MessageQueue.QueueId, res.QueueOffset}
		if prev, ok := slots[s]; ok {
			t.Errorf("send result %d reuses queue %d offset %d of %s", i, s.queue, s.offset, prev)
		}
		slots[s] = res.MsgID
		if res.MsgID == "" || len(res.OffsetMsgID) != 32 {
			t.Errorf("send result %d: MsgID %q OffsetMsgID %q, want a UNIQ_KEY and a 32-hex-digit offset id", i, res.MsgID, res.OffsetMsgID)
		}
	}

	all := append(append(append(append([]string(nil), syncBodies...), asyncBodies...), onewayBodies...), batchBodies...)
	in := newInbox()
	startPushConsumer(t, p, "SendModesGroup", topic, "*", in)
	waitDelivered(t, in, all, "the consumer")
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}

	got := in.ByBody()
	for _, m := range got {
		if m.Topic != topic {
			t.Errorf("message %.20q delivered with topic %q, want %q", m.Body, m.Topic, topic)
		}
	}
	checkSingle := func(mode string, bs []string, results []*primitive.SendResult) {
		for i, b := range bs {
			m, res := got[b], results[i]
			if m.MsgId != res.MsgID || m.OffsetMsgId != res.OffsetMsgID || m.Queue.QueueId != res.MessageQueue.QueueId || m.QueueOffset != res.QueueOffset {
				t.Errorf("%s %.20s: delivered as id %s offset id %s queue %d offset %d; send result said %s %s queue %d offset %d",
					mode, b, m.MsgId, m.OffsetMsgId, m.Queue.QueueId, m.QueueOffset,
					res.MsgID, res.OffsetMsgID, res.MessageQueue.QueueId, res.QueueOffset)
			}
		}
	}
	if got[big].SysFlag&primitive.FlagCompressed == 0 {
		t.Errorf("the %d-byte body came back without the compressed flag (sysFlag %#x)", len(big), got[big].SysFlag)
	}
	checkSingle("sync", syncBodies, syncResults)
	checkSingle("async", asyncBodies, asyncResults)
	for _, b := range onewayBodies {
		if id := got[b].MsgId; id != onewayIDs[b] {
			t.Errorf("oneway %s delivered with MsgId %s, want its UNIQ_KEY %s", b, id, onewayIDs[b])
		}
	}
	// A batch is stored as consecutive messages of one queue from the
	// offset its send result names.
	for i, res := range batchResults {
		for j, b := range batchBodies[i*5 : i*5+5] {
			m := got[b]
			if m.Queue.QueueId != res.MessageQueue.QueueId || m.QueueOffset != res.QueueOffset+int64(j) {
				t.Errorf("batch %d item %d delivered at queue %d offset %d, want queue %d offset %d",
					i, j, m.Queue.QueueId, m.QueueOffset, res.MessageQueue.QueueId, res.QueueOffset+int64(j))
			}
		}
	}
}

// sendAllAsync sends one message per body with SendAsync and waits for
// every callback, requiring SEND_OK; results are in body order.
func sendAllAsync(t *testing.T, prod rocketmq.Producer, topic string, bs []string) []*primitive.SendResult {
	t.Helper()
	type outcome struct {
		i   int
		res *primitive.SendResult
		err error
	}
	// Buffered for every callback the client may make: it can call back
	// twice for one failed send.
	done := make(chan outcome, 2*len(bs))
	for i, b := range bs {
		err := prod.SendAsync(context.Background(), func(_ context.Context, res *primitive.SendResult, err error) {
			done <- outcome{i, res, err}
		}, primitive.NewMessage(topic, []byte(b)))
		if err != nil {
			t.Fatalf("SendAsync %s: %v", b, err)
		}
	}
	results := make([]*primitive.SendResult, len(bs))
	timeout := time.After(deliverTimeout)
	for n := 0; n < len(bs); {
		select {
		case o := <-done:
			if o.err != nil {
				t.Fatalf("SendAsync %s callback: %v", bs[o.i], o.err)
			}
			if o.res.Status != primitive.SendOK {
				t.Fatalf("SendAsync %s callback: status %d, want SEND_OK", bs[o.i], o.res.Status)
			}
			if results[o.i] == nil {
				n++
			}
			results[o.i] = o.res
		case <-timeout:
			t.Fatalf("only some SendAsync callbacks came within %v", deliverTimeout)
		}
	}
	return results
}

// TestPushConsumerDelivery checks what a clustering push consumer sees of
// each message: topic, tags, keys, user properties, the producer's UNIQ_KEY
// as MsgId, and the broker's reachable address as the store host.
func TestPushConsumerDelivery(t *testing.T) {
	p := startPetrel(t)
	const topic = "PushDelivery"
	createTopic(t, p, topic, 4)
	prod := newProducer(t, p)

	type sent struct {
		tag, keys, prop, msgID string
	}
	want := map[string]sent{}
	var all []string
	for i, b := range bodies("push", 20) {
		tag := []string{"TagA", "TagB", "TagC"}[i%3]
		msg := primitive.NewMessage(topic, []byte(b)).WithTag(tag).
			WithKeys([]string{fmt.Sprintf("key-%d", i), fmt.Sprintf("order-%d", i)})
		msg.WithProperty("compat-prop", "value-"+b)
		res, err := prod.SendSync(opContext(t), msg)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("SendSync %s: %v %v", b, res, err)
		}
		want[b] = sent{tag, fmt.Sprintf("key-%d order-%d", i, i), "value-" + b, res.MsgID}
		all = append(all, b)
	}

	in := newInbox()
	startPushConsumer(t, p, "PushDeliveryGroup", topic, "*", in)
	waitDelivered(t, in, all, "the consumer")
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}
	for b, m := range in.ByBody() {
		w, ok := want[b]
		if !ok {
			t.Errorf("unexpected message %q", b)
			continue
		}
		if m.Topic != topic || m.GetTags() != w.tag || m.GetKeys() != w.keys || m.GetProperty("compat-prop") != w.prop {
			t.Errorf("%s: topic %q tags %q keys %q prop %q; want %q %q %q %q",
				b, m.Topic, m.GetTags(), m.GetKeys(), m.GetProperty("compat-prop"), topic, w.tag, w.keys, w.prop)
		}
		if m.MsgId != w.msgID {
			t.Errorf("%s: MsgId %q, want the producer's UNIQ_KEY %q", b, m.MsgId, w.msgID)
		}
		if m.StoreHost != p.BrokerAddr {
			t.Errorf("%s: store host %q, want the broker's address %q", b, m.StoreHost, p.BrokerAddr)
		}
		if m.ReconsumeTimes != 0 || m.BornTimestamp <= 0 || m.StoreTimestamp <= 0 {
			t.Errorf("%s: reconsumeTimes %d bornTimestamp %d storeTimestamp %d", b, m.ReconsumeTimes, m.BornTimestamp, m.StoreTimestamp)
		}
	}
}
