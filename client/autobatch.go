package client

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Automatic batching of SendAsync, RocketMQ 5's autoBatch done adaptively.
//
// Each send request costs both sides a frame, a header to encode and
// parse, a goroutine and a store append; for 1 KiB messages that overhead,
// not the bytes, bounds a pipelining producer. So while a topic already has
// a request awaiting its answer, further SendAsync messages for it wait in
// a pending list, and the answer sends what gathered as one
// SEND_BATCH_MESSAGE. There is no linger timer: an idle producer sends
// every message at once, alone, and batches form only under load, exactly
// as large as the load makes them.
//
// A second request (up to autoBatchInFlight) goes out only for a full
// batch, when waiting would not make it any larger. Letting four partial
// batches fly instead gave the broker more and smaller requests, each a
// hand-off to a handler goroutine, for no more throughput: with one,
// row 4 of docs/benchmarks.md (4 paced producers, 35k msgs/s) had a
// lower publish p99 in 11 of 12 interleaved pairs and a lower end-to-end
// p99 in 9, and row 2 (pipelining as fast as it can) was unchanged.
//
// Every message still gets its own callback and its own SendResult (its
// UNIQ_KEY, its offset message id and queue offset). The messages of one
// batch go to one queue and succeed, fail or are retried together. Only
// messages a batch can carry take this path: with the default selector
// (a hash or custom selector picks a queue per message), no delay, and a
// body below the compression threshold (batches are not compressed).
const (
	autoBatchInFlight    = 4
	autoBatchMaxMessages = 128
	autoBatchMaxBytes    = 256 << 10
)

// accumulator holds the pending SendAsync messages of a producer, by topic.
type accumulator struct {
	p      *Producer
	mu     sync.Mutex
	topics map[string]*topicBatches
}

type topicBatches struct {
	inflight int // batch requests awaiting their answer
	pending  []pendingSend
	bytes    int // body bytes pending
}

type pendingSend struct {
	ctx      context.Context
	msg      *Message
	callback func(*SendResult, error)
}

func newAccumulator(p *Producer) *accumulator {
	return &accumulator{p: p, topics: make(map[string]*topicBatches)}
}

// batchable reports whether msg may share a request with others.
func (a *accumulator) batchable(msg *Message) bool {
	return msg.DelayLevel == 0 && msg.DeliverAt.IsZero() &&
		(a.p.cfg.CompressOver < 0 || len(msg.Body) < a.p.cfg.CompressOver)
}

// add queues a send that holds its slot and its begin; it is sent at once
// when the topic has room for another request in flight.
func (a *accumulator) add(ctx context.Context, msg *Message, callback func(*SendResult, error)) {
	a.mu.Lock()
	tb := a.topics[msg.Topic]
	if tb == nil {
		tb = &topicBatches{}
		a.topics[msg.Topic] = tb
	}
	tb.pending = append(tb.pending, pendingSend{ctx: ctx, msg: msg, callback: callback})
	tb.bytes += len(msg.Body)
	batches := tb.takeReady()
	a.mu.Unlock()
	for _, batch := range batches {
		a.send(msg.Topic, batch)
	}
}

// ready reports whether another request may start now: the first whenever
// something is pending, more only while a full batch is waiting.
func (tb *topicBatches) ready() bool {
	switch {
	case len(tb.pending) == 0 || tb.inflight >= autoBatchInFlight:
		return false
	case tb.inflight == 0:
		return true
	default:
		return len(tb.pending) >= autoBatchMaxMessages || tb.bytes >= autoBatchMaxBytes
	}
}

// takeReady takes the batches that may start now and counts them in
// flight.
func (tb *topicBatches) takeReady() [][]pendingSend {
	var batches [][]pendingSend
	for tb.ready() {
		tb.inflight++
		batches = append(batches, tb.take())
	}
	return batches
}

// take removes the next batch from the pending list.
func (tb *topicBatches) take() []pendingSend {
	n, bytes := 0, 0
	for n < len(tb.pending) && n < autoBatchMaxMessages {
		b := len(tb.pending[n].msg.Body)
		if n > 0 && bytes+b > autoBatchMaxBytes {
			break
		}
		bytes += b
		n++
	}
	batch := make([]pendingSend, n)
	copy(batch, tb.pending)
	rest := copy(tb.pending, tb.pending[n:])
	clear(tb.pending[rest:])
	tb.pending = tb.pending[:rest]
	tb.bytes -= bytes
	return batch
}

// answered is called once per batch request finished: it frees the
// request's place and sends what may go now.
func (a *accumulator) answered(topic string) {
	a.mu.Lock()
	tb := a.topics[topic]
	tb.inflight--
	batches := tb.takeReady()
	if tb.inflight == 0 {
		delete(a.topics, topic)
	}
	a.mu.Unlock()
	for _, batch := range batches {
		a.send(topic, batch)
	}
}

// send starts one request for batch; sends whose ctx ended while they
// waited are answered with ctx's error instead.
func (a *accumulator) send(topic string, batch []pendingSend) {
	p := a.p
	live := batch[:0]
	for _, s := range batch {
		if err := s.ctx.Err(); err != nil {
			<-p.slots
			s.callback(nil, err)
			p.end()
			continue
		}
		live = append(live, s)
	}
	if len(live) == 0 {
		a.answered(topic)
		return
	}
	msgs := make([]*Message, len(live))
	for i, s := range live {
		msgs[i] = s.msg
	}
	out, err := p.prepare(msgs, "")
	if err != nil {
		for _, s := range live {
			<-p.slots
			s.callback(nil, err)
			p.end()
		}
		a.answered(topic)
		return
	}
	as := &asyncSend{p: p, out: out, msgs: msgs, parent: context.Background(), count: len(live)}
	as.callback = func(res *SendResult, err error) {
		a.answered(topic)
		fanOut(live, res, err)
	}
	// SendTimeout is the batch's only bound (each message's own ctx was
	// checked above): a deadline, without a timer context per request.
	as.ctx, as.deadline = context.Background(), time.Now().Add(p.cfg.SendTimeout)
	as.attempt()
}

// fanOut gives each message of a batch its own result.
func fanOut(batch []pendingSend, res *SendResult, err error) {
	if res == nil || len(batch) == 1 {
		for _, s := range batch {
			s.callback(res, err)
		}
		return
	}
	ids := strings.Split(res.MsgID, ",")
	offsetIDs := strings.Split(res.OffsetMsgID, ",")
	for i, s := range batch {
		r := *res
		if len(ids) == len(batch) {
			r.MsgID = ids[i]
		}
		if len(offsetIDs) == len(batch) {
			r.OffsetMsgID = offsetIDs[i]
		}
		if r.Status != SendSpooled {
			r.QueueOffset += int64(i)
		}
		s.callback(&r, err)
	}
}
