package client

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// processQueue is one owned queue of a push consumer (RocketMQ's
// ProcessQueue): the messages pulled and not yet consumed, in offset
// order, and the listener calls running on them. Its pull loop adds,
// consume workers remove; the offset that may be committed is the lowest
// offset still held, so a message is never committed past before its
// listener is done with it (RocketMQ's rule), whatever order the calls
// finish in.
type processQueue struct {
	mq  MessageQueue
	sub *subscription

	// ctx ends the queue's pull loop (and orderly consumption); done is
	// closed when that goroutine has returned.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// space is signalled when messages are removed, waking a pull loop
	// paused by flow control.
	space chan struct{}

	mu       sync.Mutex
	entries  []pqEntry // by offset; entries[:head] are done
	head     int
	count    int   // entries not done
	bytes    int64 // body bytes of entries not done
	next     int64 // the next offset to pull
	inflight map[*consumeBatch]struct{}
	dropped  bool
	// committed is the last offset committed for the queue (-1: none), so
	// unchanged offsets are not sent again.
	committed int64
	// locked: an orderly consumer holds the queue's broker lock.
	locked bool

	// lastPull is when the queue's loop last started a pull (unix nanos);
	// busy is set while it waits for space or consumes instead, which is
	// not idleness (see PushConsumerConfig.PullMaxIdleTime).
	lastPull atomic.Int64
	busy     atomic.Bool
	// lastConsume and lastLock (unix millis) are reported by
	// GET_CONSUMER_RUNNING_INFO.
	lastConsume atomic.Int64
	lastLock    atomic.Int64
	// relockFailures counts failed attempts to renew a stale lock before
	// a batch; overdue counts orderly calls past ConsumeTimeout.
	relockFailures atomic.Int64
	overdue        atomic.Int64
}

type pqEntry struct {
	offset int64
	size   int
	done   bool
}

func newProcessQueue(mq MessageQueue, sub *subscription, next int64) *processQueue {
	pq := &processQueue{mq: mq, sub: sub, next: next, committed: -1, done: make(chan struct{}),
		space: make(chan struct{}, 1), inflight: make(map[*consumeBatch]struct{})}
	pq.ctx, pq.cancel = context.WithCancel(context.Background())
	pq.pulling()
	return pq
}

// pulling records that the loop is about to pull.
func (pq *processQueue) pulling() { pq.lastPull.Store(time.Now().UnixNano()) }

// whileBusy runs fn (waiting for space, consuming) as time that does not
// count as idle.
func (pq *processQueue) whileBusy(fn func() bool) bool {
	pq.busy.Store(true)
	defer func() {
		pq.pulling()
		pq.busy.Store(false)
	}()
	return fn()
}

// pullIdle reports whether no pull has started for maxIdle while the
// loop was not busy: RocketMQ's isPullExpired.
func (pq *processQueue) pullIdle(now time.Time, maxIdle time.Duration) bool {
	return !pq.busy.Load() && now.Sub(time.Unix(0, pq.lastPull.Load())) > maxIdle
}

// add records pulled messages (in offset order) and the next offset to
// pull; next alone moves on when a pull returned nothing to consume.
func (pq *processQueue) add(msgs []*MessageExt, next int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	for _, m := range msgs {
		pq.entries = append(pq.entries, pqEntry{offset: m.QueueOffset, size: len(m.Body)})
		pq.count++
		pq.bytes += int64(len(m.Body))
	}
	pq.next = next
}

// remove marks messages consumed and reports whether the queue was
// dropped meanwhile (then nothing more should be done for them).
func (pq *processQueue) remove(msgs []*MessageExt) (dropped bool) {
	pq.mu.Lock()
	live := pq.entries[pq.head:]
	for _, m := range msgs {
		i := sort.Search(len(live), func(i int) bool { return live[i].offset >= m.QueueOffset })
		if i < len(live) && live[i].offset == m.QueueOffset && !live[i].done {
			live[i].done = true
			pq.count--
			pq.bytes -= int64(live[i].size)
		}
	}
	for pq.head < len(pq.entries) && pq.entries[pq.head].done {
		pq.head++
	}
	// Reuse the slice once most of it is done, so it does not grow with
	// the queue's history.
	if pq.head > 1024 && pq.head*2 > len(pq.entries) {
		n := copy(pq.entries, pq.entries[pq.head:])
		pq.entries = slices.Delete(pq.entries, n, len(pq.entries))
		pq.head = 0
	}
	dropped = pq.dropped
	pq.mu.Unlock()
	select {
	case pq.space <- struct{}{}:
	default:
	}
	return dropped
}

// commitOffset is the offset that may be committed: the lowest message
// still held, or the next offset to pull when none is.
func (pq *processQueue) commitOffset() int64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.commitOffsetLocked()
}

func (pq *processQueue) commitOffsetLocked() int64 {
	if pq.head < len(pq.entries) {
		return pq.entries[pq.head].offset
	}
	return pq.next
}

// nextOffset is where the next pull starts.
func (pq *processQueue) nextOffset() int64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.next
}

// setNext moves the pull position (OFFSET_MOVED, reset); messages held
// stay held.
func (pq *processQueue) setNext(next int64) {
	pq.mu.Lock()
	pq.next = next
	pq.mu.Unlock()
}

// full reports whether flow control pauses pulling.
func (pq *processQueue) full(maxCount int, maxBytes int64) bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.count >= maxCount || pq.bytes >= maxBytes
}

// waitSpace blocks while the queue is full; false when ctx ends.
func (pq *processQueue) waitSpace(ctx context.Context, maxCount int, maxBytes int64) bool {
	for pq.full(maxCount, maxBytes) {
		select {
		case <-pq.space:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

// held returns how many messages are held and their bytes.
func (pq *processQueue) held() (int, int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.count, pq.bytes
}

// drop marks the queue lost: results of listener calls still running on
// it are ignored.
func (pq *processQueue) drop() {
	pq.mu.Lock()
	pq.dropped = true
	pq.mu.Unlock()
	pq.cancel()
}

func (pq *processQueue) isDropped() bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.dropped
}

func (pq *processQueue) startBatch(b *consumeBatch) {
	pq.mu.Lock()
	pq.inflight[b] = struct{}{}
	pq.mu.Unlock()
}

func (pq *processQueue) endBatch(b *consumeBatch) {
	pq.mu.Lock()
	delete(pq.inflight, b)
	pq.mu.Unlock()
}

// expired returns listener calls started before cutoff that are still
// running.
func (pq *processQueue) expired(cutoff time.Time) []*consumeBatch {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	var out []*consumeBatch
	for b := range pq.inflight {
		if b.started.Before(cutoff) {
			out = append(out, b)
		}
	}
	return out
}

// markCommitted records a committed offset; false if it was already.
func (pq *processQueue) markCommitted(off int64) bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if off == pq.committed {
		return false
	}
	pq.committed = off
	return true
}

func (pq *processQueue) setLocked(v bool) {
	if v {
		pq.lastLock.Store(time.Now().UnixMilli())
	}
	pq.mu.Lock()
	pq.locked = v
	pq.mu.Unlock()
}

func (pq *processQueue) isLocked() bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.locked
}

// queueTable holds a consumer's owned queues. Only the consumer's run
// goroutine adds and removes; others read.
type queueTable struct {
	mu sync.Mutex
	m  map[MessageQueue]*processQueue
}

func newQueueTable() *queueTable { return &queueTable{m: make(map[MessageQueue]*processQueue)} }

func (t *queueTable) get(mq MessageQueue) *processQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[mq]
}

func (t *queueTable) put(pq *processQueue) {
	t.mu.Lock()
	t.m[pq.mq] = pq
	t.mu.Unlock()
}

func (t *queueTable) delete(mq MessageQueue) {
	t.mu.Lock()
	delete(t.m, mq)
	t.mu.Unlock()
}

// all returns the owned process queues.
func (t *queueTable) all() []*processQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*processQueue, 0, len(t.m))
	for _, pq := range t.m {
		out = append(out, pq)
	}
	return out
}

// queues returns the owned queues, sorted.
func (t *queueTable) queues() []MessageQueue {
	t.mu.Lock()
	out := make([]MessageQueue, 0, len(t.m))
	for mq := range t.m {
		out = append(out, mq)
	}
	t.mu.Unlock()
	slices.SortFunc(out, compareQueues)
	return out
}
