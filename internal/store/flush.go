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
	// While the flusher awaits arrivals (awaiting), enqueue records when
	// the last writer arrived and sets reached once want waiters are
	// queued. It kicks arrivedKick only when the flusher has something
	// new to act on: the count is reached, or the first arrival starts the
	// quiet gap (timing false before it). Kicking on every arrival woke
	// the flusher up to 64 times per group commit, taking a vCPU from the
	// writers it was waiting for (their return took 13-16 µs longer per
	// group commit in the 64-writer benchmark).
	awaiting    bool
	want        int
	reached     bool
	timing      bool
	lastArrival time.Time

	flushKick   chan struct{}
	arrivedKick chan struct{}
}

func newGroupCommit() *groupCommit {
	return &groupCommit{
		flushKick:   make(chan struct{}, 1),
		arrivedKick: make(chan struct{}, 1),
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueue adds w, whose writer appended at now; it is called with the put
// lock held.
func (g *groupCommit) enqueue(w *flushWaiter, now time.Time) {
	g.mu.Lock()
	g.queue = append(g.queue, w)
	notify := false
	if g.awaiting {
		g.lastArrival = now
		if len(g.queue)-g.head >= g.want {
			g.reached, notify = true, true
		} else if !g.timing {
			g.timing, notify = true, true
		}
	}
	g.mu.Unlock()
	if notify {
		kick(g.arrivedKick)
	}
}

// awaitArrivals waits for the n writers a sync just released, when left
// waiters stayed queued, to append again, so that the next sync covers
// them all: syncing before they do splits the writers into two
// alternating cohorts, each sync covering half of them.
//
// How long the writers take to come back depends on who they are: the
// store's own benchmark goroutines append again within microseconds, a
// broker's synchronous producers only after a network round trip, longer
// than the sync itself. So the wait is not a fixed time. It ends when all
// n are back; or when gap passes without an arrival while someone is
// queued (the rest are not coming soon, and the queued ones should not
// wait for them); or after limit. Before anyone is queued, waiting delays
// nobody, so only limit applies, but only when the writers came back in
// full last time (patient): writers that do not, such as producers
// sending now and then, would only make the first to return wait a gap
// for the others, so then the gap counts from the start. It reports
// whether all n came back.
func (g *groupCommit) awaitArrivals(n, left int, gap, limit time.Duration, patient bool, timer *time.Timer, stop <-chan struct{}) bool {
	select {
	case <-g.arrivedKick: // a stale kick, from before this wait
	default:
	}
	now := time.Now()
	end := now.Add(limit)
	g.mu.Lock()
	queued := len(g.queue) - g.head
	g.want, g.awaiting = left+n, true
	g.reached = queued >= g.want
	// Before anyone is queued a patient wait has no gap, so the first
	// arrival must kick (timing false); otherwise the gap runs from now.
	g.timing = queued > 0 || !patient
	g.lastArrival = now
	g.mu.Unlock()
	for {
		g.mu.Lock()
		reached, timing, last := g.reached, g.timing, g.lastArrival
		g.mu.Unlock()
		if reached {
			break
		}
		until := end
		if quiet := last.Add(gap); timing && quiet.Before(until) {
			until = quiet
		}
		d := time.Until(until)
		if d <= 0 {
			break
		}
		timer.Reset(d)
		stopped := false
		select {
		case <-g.arrivedKick:
		case <-timer.C:
		case <-stop:
			stopped = true
		}
		timer.Stop()
		if stopped {
			break
		}
	}
	g.mu.Lock()
	reached := g.reached
	g.awaiting, g.reached, g.timing = false, false, false
	g.mu.Unlock()
	return reached
}

// pending reports whether any waiter is queued.
func (g *groupCommit) pending() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.head < len(g.queue)
}

// release completes waiters from the head while done says so, and returns
// how many it completed, how many are left, and the deadline of the new
// head (zero if none).
func (g *groupCommit) release(done func(*flushWaiter) (waitResult, bool)) (released, left int, next time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.head < len(g.queue) {
		w := g.queue[g.head]
		res, ok := done(w)
		if !ok {
			break
		}
		g.queue[g.head] = nil
		g.head++
		released++
		w.done <- res
	}
	if g.head == len(g.queue) {
		g.queue = g.queue[:0]
		g.head = 0
		return released, 0, time.Time{}
	}
	if g.head > 1024 && g.head > len(g.queue)/2 {
		n := copy(g.queue, g.queue[g.head:])
		clear(g.queue[n:])
		g.queue = g.queue[:n]
		g.head = 0
	}
	return released, len(g.queue) - g.head, g.queue[g.head].deadline
}

// Bounds of awaitArrivals: the quiet gap is the last sync's duration, at
// most maxArrivalGap; the whole wait is at most maxArrivalWait, a little
// more than a loopback round trip of a busy broker.
const (
	maxArrivalGap  = 2 * time.Millisecond
	maxArrivalWait = 2 * time.Millisecond
	// minPatientCohort is the fewest writers whose full return makes the
	// flusher patient. Under light load a sync releases one or two
	// waiters, and other producers' sends complete any small count by
	// chance: waiting for them would add a gap to every send.
	minPatientCohort = 8
)

// runFlusher is SYNC_FLUSH's flusher goroutine: each round syncs up to the
// current written offset, so one sync covers every append that completed
// while the previous sync ran.
func (s *Store) runFlusher(g *groupCommit) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	patient := false // see awaitArrivals
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
			released, left, _ := g.release(func(w *flushWaiter) (waitResult, bool) {
				if err != nil {
					return waitResult{err: err}, true
				}
				return waitResult{status: PutOK}, w.end <= flushed
			})
			if err != nil {
				kick(s.dispatchKick)
				break
			}
			if wm := s.log.files.warmer; wm != nil {
				wm.diskIdle()
			}
			if released > 1 {
				reached := g.awaitArrivals(released, left, min(took, maxArrivalGap), maxArrivalWait, patient, timer, s.stop)
				patient = reached && released >= minPatientCohort
			}
			// Records synced with several writers are dispatched only now,
			// after the wait for those writers, while the next group
			// commit's I/O leaves the vCPUs idle. Dispatched at the
			// release, they took a vCPU from the writers coming back: in
			// the 64-writer benchmark their return took 25-65 µs longer
			// per group commit (50-80 µs instead of 100-115). Consumers
			// see the records at most maxArrivalWait later.
			kick(s.dispatchKick)
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
		_, _, next := g.release(func(w *flushWaiter) (waitResult, bool) {
			return waitResult{status: FlushDiskTimeout}, !now.Before(w.deadline)
		})
		// With nobody queued, the next waiter's deadline is at least a
		// whole timeout away, so the watcher needs no wake-up when one
		// is queued: it was woken at the first enqueue of every group
		// commit, thousands of times a second under load, to re-arm a
		// timer that never fired.
		wait := s.cfg.SyncFlushTimeout
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
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
