package store

import (
	"sync"
	"time"
)

// PutStatus is the durability outcome of a stored message (RocketMQ's
// PutMessageStatus for the success cases).
type PutStatus int

const (
	// PutOK: stored with the durability the flush mode promises.
	PutOK PutStatus = iota
	// FlushDiskTimeout: stored, but SYNC_FLUSH did not confirm the sync
	// within syncFlushTimeout.
	FlushDiskTimeout
)

func (s PutStatus) String() string {
	if s == FlushDiskTimeout {
		return "FLUSH_DISK_TIMEOUT"
	}
	return "PUT_OK"
}

// flushWaiter is one SYNC_FLUSH append waiting for its sync. Waiters are
// pooled so the append path does not allocate.
type flushWaiter struct {
	end      int64 // commit-log offset that must be durable
	deadline time.Time
	done     chan waitResult
}

type waitResult struct {
	status PutStatus
	err    error
}

var waiterPool = sync.Pool{New: func() any { return &flushWaiter{done: make(chan waitResult, 1)} }}

// groupCommit is SYNC_FLUSH's waiter queue: appenders enqueue under the put
// lock (so the queue is ordered by offset and by deadline), one flusher
// syncs everything written so far and releases every waiter it covers, and
// a watcher releases waiters whose deadline passes first. Each waiter is
// completed exactly once, by whoever pops it.
type groupCommit struct {
	mu    sync.Mutex
	queue []*flushWaiter // FIFO from head
	head  int
	want  int // when > 0, kick arrived once this many waiters are queued

	flushKick   chan struct{}
	watchKick   chan struct{}
	arrivedKick chan struct{}
}

func newGroupCommit() *groupCommit {
	return &groupCommit{
		flushKick:   make(chan struct{}, 1),
		watchKick:   make(chan struct{}, 1),
		arrivedKick: make(chan struct{}, 1),
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueue adds w; it is called with the put lock held.
func (g *groupCommit) enqueue(w *flushWaiter) {
	g.mu.Lock()
	wasEmpty := g.head == len(g.queue)
	g.queue = append(g.queue, w)
	arrived := g.want > 0 && len(g.queue)-g.head >= g.want
	if arrived {
		g.want = 0
	}
	g.mu.Unlock()
	if wasEmpty {
		kick(g.watchKick)
	}
	if arrived {
		kick(g.arrivedKick)
	}
}

// awaitArrivals waits, at most maxWait (the flusher passes the last sync's
// duration), until n more waiters than are queued now have arrived. After a sync releases n waiters, their
// goroutines usually append again at once; syncing before they do splits
// the writers into two alternating cohorts, each sync covering half of them.
func (g *groupCommit) awaitArrivals(n int, maxWait time.Duration, timer *time.Timer, stop <-chan struct{}) {
	g.mu.Lock()
	g.want = len(g.queue) - g.head + n
	g.mu.Unlock()
	select {
	case <-g.arrivedKick:
	default:
	}
	timer.Reset(maxWait)
	select {
	case <-g.arrivedKick:
	case <-timer.C:
	case <-stop:
	}
	timer.Stop()
	g.mu.Lock()
	g.want = 0
	g.mu.Unlock()
}

// pending reports whether any waiter is queued.
func (g *groupCommit) pending() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.head < len(g.queue)
}

// release completes waiters from the head while done says so, and returns
// how many it completed and the deadline of the new head (zero if none).
func (g *groupCommit) release(done func(*flushWaiter) (waitResult, bool)) (int, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for g.head < len(g.queue) {
		w := g.queue[g.head]
		res, ok := done(w)
		if !ok {
			break
		}
		g.queue[g.head] = nil
		g.head++
		n++
		w.done <- res
	}
	if g.head == len(g.queue) {
		g.queue = g.queue[:0]
		g.head = 0
		return n, time.Time{}
	}
	if g.head > 1024 && g.head > len(g.queue)/2 {
		n := copy(g.queue, g.queue[g.head:])
		clear(g.queue[n:])
		g.queue = g.queue[:n]
		g.head = 0
	}
	return n, g.queue[g.head].deadline
}

// runFlusher is SYNC_FLUSH's flusher goroutine: each round syncs up to the
// current written offset, so one sync covers every append that completed
// while the previous sync ran.
func (s *Store) runFlusher(g *groupCommit) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-g.flushKick:
		case <-s.stop:
			return
		}
		for g.pending() {
			began := time.Now()
			target := s.log.appended.Load()
			err := s.log.flushTo(target)
			if err != nil {
				s.fail(err)
			}
			took := time.Since(began)
			flushed := s.log.flushed.Load()
			released, _ := g.release(func(w *flushWaiter) (waitResult, bool) {
				if err != nil {
					return waitResult{err: err}, true
				}
				return waitResult{status: PutOK}, w.end <= flushed
			})
			kick(s.dispatchKick)
			if err != nil {
				break
			}
			if released > 1 {
				g.awaitArrivals(released, min(took, 2*time.Millisecond), timer, s.stop)
			}
		}
	}
}

// runFlushWatcher answers FlushDiskTimeout to waiters whose sync has not
// completed by their deadline. The record stays stored and is synced later.
func (s *Store) runFlushWatcher(g *groupCommit) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.cfg.Now()
		_, next := g.release(func(w *flushWaiter) (waitResult, bool) {
			return waitResult{status: FlushDiskTimeout}, !now.Before(w.deadline)
		})
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-g.watchKick:
		case <-s.stop:
			return
		}
	}
}

// runAsyncFlusher is ASYNC_FLUSH's flusher: a sync every FlushInterval.
func (s *Store) runAsyncFlusher() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.log.flushTo(s.log.written.Load()); err != nil {
				s.fail(err)
			}
		case <-s.stop:
			return
		}
	}
}
