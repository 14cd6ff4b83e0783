package store

import (
	"testing"
	"time"
)

// awaitHarness runs awaitArrivals on a fresh queue the way the flusher
// does; a wrong wait shows up as a wrong answer or as a test that never
// ends (the waits that must end early are given an hour).
type awaitHarness struct {
	g     *groupCommit
	timer *time.Timer
	stop  chan struct{}
}

func newAwaitHarness(t *testing.T) *awaitHarness {
	h := &awaitHarness{g: newGroupCommit(), timer: time.NewTimer(time.Hour), stop: make(chan struct{})}
	h.timer.Stop()
	t.Cleanup(func() { close(h.stop) })
	return h
}

func (h *awaitHarness) enqueue(n int) {
	for range n {
		h.g.enqueue(&flushWaiter{done: make(chan waitResult, 1)})
	}
}

// whenAwaiting runs fn once awaitArrivals has started waiting.
func (h *awaitHarness) whenAwaiting(fn func()) {
	go func() {
		for {
			h.g.mu.Lock()
			awaiting := h.g.awaiting
			h.g.mu.Unlock()
			if awaiting {
				fn()
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
}

func TestAwaitArrivalsEndsWhenAllAreBack(t *testing.T) {
	h := newAwaitHarness(t)
	h.whenAwaiting(func() { h.enqueue(3) })
	if !h.g.awaitArrivals(3, 0, time.Hour, time.Hour, true, h.timer, h.stop) {
		t.Fatal("awaitArrivals reported that the writers did not come back")
	}
	if h.g.awaiting {
		t.Fatal("still marked awaiting after the wait")
	}
}

func TestAwaitArrivalsCountsWritersBackBeforeTheWait(t *testing.T) {
	h := newAwaitHarness(t)
	// Two waiters stayed queued through the sync, and the two it released
	// are back before the flusher starts waiting: nothing to wait for.
	h.enqueue(4)
	if !h.g.awaitArrivals(2, 2, time.Hour, time.Hour, true, h.timer, h.stop) {
		t.Fatal("awaitArrivals waited for writers that were already back")
	}
}

func TestAwaitArrivalsDoesNotHoldQueuedWaitersPastTheGap(t *testing.T) {
	h := newAwaitHarness(t)
	h.enqueue(1) // someone waits for the next sync
	if h.g.awaitArrivals(3, 1, time.Millisecond, time.Hour, true, h.timer, h.stop) {
		t.Fatal("awaitArrivals reported arrivals that never happened")
	}
}

func TestAwaitArrivalsImpatientGivesUpAfterTheGap(t *testing.T) {
	h := newAwaitHarness(t)
	if h.g.awaitArrivals(3, 0, time.Millisecond, time.Hour, false, h.timer, h.stop) {
		t.Fatal("awaitArrivals reported arrivals that never happened")
	}
}

func TestAwaitArrivalsPatientWaitsPastTheGapForTheFirstArrival(t *testing.T) {
	h := newAwaitHarness(t)
	h.whenAwaiting(func() {
		time.Sleep(50 * time.Millisecond) // many gaps: only patience explains a true below
		h.enqueue(2)
	})
	if !h.g.awaitArrivals(2, 0, time.Millisecond, time.Hour, true, h.timer, h.stop) {
		t.Fatal("a patient wait gave up before the first writer came back")
	}
}

func TestAwaitArrivalsStopsAtTheLimit(t *testing.T) {
	h := newAwaitHarness(t)
	if h.g.awaitArrivals(2, 0, time.Hour, time.Millisecond, true, h.timer, h.stop) {
		t.Fatal("awaitArrivals reported arrivals that never happened")
	}
}
