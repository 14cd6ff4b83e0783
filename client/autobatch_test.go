package client

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// holdBatches makes the accumulator believe topic has its full number of
// requests in flight, so SendAsync messages wait in the pending list; the
// returned func sends what gathered as one batch and gives the places back.
func holdBatches(p *Producer, topic string) (flush func()) {
	a := p.acc
	a.mu.Lock()
	a.topics[topic] = &topicBatches{inflight: autoBatchInFlight}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		tb := a.topics[topic]
		tb.inflight -= autoBatchInFlight - 1 // one place for the batch
		batch := tb.take()
		a.mu.Unlock()
		a.send(topic, batch)
	}
}

type asyncOutcome struct {
	res *SendResult
	err error
}

// TestAutoBatchGivesEachMessageItsResult: SendAsync messages that gather
// while the topic's requests are in flight go as one batch request, and
// each still gets its own callback with its own id, offset id and queue
// offset; the broker stores them in that order in one queue.
func TestAutoBatchGivesEachMessageItsResult(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Batched", 4)
	p := newTestProducer(t, c, nil)
	if _, err := p.Send(testCtx(t), NewMessage("Batched", []byte("route"))); err != nil {
		t.Fatal(err)
	}
	flush := holdBatches(p, "Batched")
	const n = 50
	results := make([]asyncOutcome, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		msg := NewMessage("Batched", []byte(strconv.Itoa(i)))
		msg.Keys = []string{"k" + strconv.Itoa(i)}
		if err := p.SendAsync(testCtx(t), msg, func(res *SendResult, err error) {
			results[i] = asyncOutcome{res, err}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	wg.Wait()
	first := results[0].res
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("message %d: %v", i, r.err)
		}
		if r.res.Queue != first.Queue || r.res.QueueOffset != first.QueueOffset+int64(i) {
			t.Fatalf("message %d at %v offset %d; the first at %v offset %d", i, r.res.Queue, r.res.QueueOffset, first.Queue, first.QueueOffset)
		}
	}
	stored := map[string]string{} // UNIQ_KEY -> body
	offsetIDs := map[string]string{}
	for _, m := range c.AllMessages("Batched") {
		stored[m.Properties["UNIQ_KEY"]] = string(m.Body)
		offsetIDs[m.Properties["UNIQ_KEY"]] = m.MsgID()
	}
	for i, r := range results {
		if body, ok := stored[r.res.MsgID]; !ok || body != strconv.Itoa(i) {
			t.Fatalf("message %d's result id %s holds %q", i, r.res.MsgID, body)
		}
		if offsetIDs[r.res.MsgID] != r.res.OffsetMsgID {
			t.Fatalf("message %d: result offset id %s, stored %s", i, r.res.OffsetMsgID, offsetIDs[r.res.MsgID])
		}
	}
}

// TestAutoBatchDropsCancelledWaiters: a message whose ctx ends while it
// waits for a batch is answered with ctx's error and never sent; the
// others of its batch are.
func TestAutoBatchDropsCancelledWaiters(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Cancel", 1)
	p := newTestProducer(t, c, nil)
	if _, err := p.Send(testCtx(t), NewMessage("Cancel", []byte("route"))); err != nil {
		t.Fatal(err)
	}
	flush := holdBatches(p, "Cancel")
	ctx, cancel := context.WithCancel(testCtx(t))
	outcomes := make(chan asyncOutcome, 2)
	cb := func(res *SendResult, err error) { outcomes <- asyncOutcome{res, err} }
	if err := p.SendAsync(ctx, NewMessage("Cancel", []byte("dropped")), cb); err != nil {
		t.Fatal(err)
	}
	if err := p.SendAsync(testCtx(t), NewMessage("Cancel", []byte("kept")), cb); err != nil {
		t.Fatal(err)
	}
	cancel()
	flush()
	var cancelled, sent int
	for range 2 {
		o := <-outcomes
		switch {
		case errors.Is(o.err, context.Canceled):
			cancelled++
		case o.err == nil:
			sent++
		default:
			t.Fatalf("unexpected outcome: %v", o.err)
		}
	}
	if cancelled != 1 || sent != 1 {
		t.Fatalf("%d cancelled, %d sent", cancelled, sent)
	}
	var bodies []string
	for _, m := range c.AllMessages("Cancel") {
		bodies = append(bodies, string(m.Body))
	}
	if len(bodies) != 2 || bodies[1] != "kept" {
		t.Fatalf("stored %q, want the route probe and %q", bodies, "kept")
	}
}

// TestAutoBatchOnlyWhereABatchFits: delayed messages, a custom selector
// and DisableAutoBatch bypass batching.
func TestAutoBatchOnlyWhereABatchFits(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	p := newTestProducer(t, c, nil)
	delayed := NewMessage("T", []byte("x"))
	delayed.DelayLevel = 2
	if p.acc.batchable(delayed) {
		t.Fatal("a delayed message is batchable")
	}
	if !p.acc.batchable(NewMessage("T", []byte("x"))) {
		t.Fatal("a plain message is not batchable")
	}
	if big := NewMessage("T", make([]byte, DefaultCompressOver)); p.acc.batchable(big) {
		t.Fatal("a body to compress is batchable")
	}
	hashed := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.Selector, cfg.InstanceName = HashSelector{}, "hashed" })
	off := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.DisableAutoBatch, cfg.InstanceName = true, "off" })
	if hashed.acc != nil || off.acc != nil {
		t.Fatal("batching enabled with a custom selector or DisableAutoBatch")
	}
}

// TestAutoBatchSecondRequestOnlyForFullBatch: while a topic has a request
// in flight, pending messages wait for its answer unless a full batch has
// gathered; full batches may go out up to autoBatchInFlight at once, and
// whatever is left waits.
func TestAutoBatchSecondRequestOnlyForFullBatch(t *testing.T) {
	pending := func(n, size int) *topicBatches {
		tb := &topicBatches{}
		for range n {
			tb.pending = append(tb.pending, pendingSend{msg: &Message{Body: make([]byte, size)}})
			tb.bytes += size
		}
		return tb
	}
	sizes := func(batches [][]pendingSend) []int {
		var n []int
		for _, b := range batches {
			n = append(n, len(b))
		}
		return n
	}
	cases := []struct {
		name      string
		tb        *topicBatches
		inflight  int
		want      []int // messages per request started
		remaining int
	}{
		{"idle topic sends at once", pending(1, 10), 0, []int{1}, 0},
		{"idle topic sends one batch of what waits", pending(5, 10), 0, []int{5}, 0},
		{"partial batch waits for the answer", pending(autoBatchMaxMessages-1, 10), 1, nil, autoBatchMaxMessages - 1},
		{"full batch by count goes", pending(autoBatchMaxMessages+3, 10), 1, []int{autoBatchMaxMessages}, 3},
		{"full batch by bytes goes", pending(5, autoBatchMaxBytes/4), 1, []int{4}, 1},
		{"full batches up to the limit", pending(5*autoBatchMaxMessages, 10), 1,
			[]int{autoBatchMaxMessages, autoBatchMaxMessages, autoBatchMaxMessages}, 2 * autoBatchMaxMessages},
		{"nothing beyond the limit", pending(2*autoBatchMaxMessages, 10), autoBatchInFlight, nil, 2 * autoBatchMaxMessages},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.tb.inflight = tc.inflight
			got := sizes(tc.tb.takeReady())
			if !slices.Equal(got, tc.want) {
				t.Errorf("requests started with %v messages, want %v", got, tc.want)
			}
			if len(tc.tb.pending) != tc.remaining {
				t.Errorf("%d messages left pending, want %d", len(tc.tb.pending), tc.remaining)
			}
			if want := tc.inflight + len(tc.want); tc.tb.inflight != want {
				t.Errorf("%d requests in flight, want %d", tc.tb.inflight, want)
			}
		})
	}
}
