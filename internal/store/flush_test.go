package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
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
		h.g.enqueue(&flushWaiter{done: make(chan waitResult, 1)}, time.Now())
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

// TestEnqueueKicksOnlyWhenTheFlusherMustLook: while the flusher waits for
// returning writers, an arrival wakes it only to start the quiet gap (the
// first, when the wait had none) and when the count is reached, not once
// per writer.
func TestEnqueueKicksOnlyWhenTheFlusherMustLook(t *testing.T) {
	for _, tc := range []struct {
		name       string
		timing     bool
		firstKicks bool
	}{{"gap running", true, false}, {"patient, no gap yet", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroupCommit()
			g.awaiting, g.want, g.timing = true, 4, tc.timing
			for i := range 4 {
				g.enqueue(&flushWaiter{done: make(chan waitResult, 1)}, time.Now())
				want := 0
				if i == 3 || (i == 0 && tc.firstKicks) {
					want = 1
				}
				if got := len(g.arrivedKick); got != want {
					t.Fatalf("after arrival %d: %d kicks pending, want %d", i+1, got, want)
				}
				select {
				case <-g.arrivedKick:
				default:
				}
			}
			if !g.reached {
				t.Fatal("four arrivals did not reach a want of four")
			}
		})
	}
}

func TestAwaitArrivalsStopsAtTheLimit(t *testing.T) {
	h := newAwaitHarness(t)
	if h.g.awaitArrivals(2, 0, time.Hour, time.Millisecond, true, h.timer, h.stop) {
		t.Fatal("awaitArrivals reported arrivals that never happened")
	}
}

// pageWriteFS records where each commit-log WriteAt ends.
type pageWriteFS struct {
	vfs.FS
	mu   sync.Mutex
	ends []int64 // file offsets where writes ended
}

type pageWriteFile struct {
	vfs.File
	fs  *pageWriteFS
	log bool
}

func (p *pageWriteFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &pageWriteFile{File: f, fs: p, log: isSegment(name)}, nil
}

func (p *pageWriteFS) Create(name string) (vfs.File, error) {
	f, err := p.FS.Create(name)
	return p.wrap(f, name, err)
}

func (p *pageWriteFS) Open(name string) (vfs.File, error) {
	f, err := p.FS.Open(name)
	return p.wrap(f, name, err)
}

func (f *pageWriteFile) WriteAt(b []byte, off int64) (int, error) {
	if f.log {
		f.fs.mu.Lock()
		f.fs.ends = append(f.fs.ends, off+int64(len(b)))
		f.fs.mu.Unlock()
	}
	return f.File.WriteAt(b, off)
}

// TestSyncFlushWritesWholePages: under SYNC_FLUSH every commit-log write
// ends on a page boundary (or at the segment's end), so the kernel never
// has to read a page back to merge a partial write (see writeStaged), and
// the zeros padding the last page are overwritten by the next batch: what
// was appended reads back unchanged.
func TestSyncFlushWritesWholePages(t *testing.T) {
	rec := &pageWriteFS{FS: vfs.NewMem()}
	cfg := syncWarmConfig(rec)
	s := mustOpen(t, cfg)
	var bodies []string
	for i := 0; i < 120; i++ {
		bodies = append(bodies, fmt.Sprintf("%d-%s", i, strings.Repeat("z", i*7%500)))
		mustPut(t, s, newMsg("T", 0, bodies[i]))
	}
	rec.mu.Lock()
	ends := slices.Clone(rec.ends)
	rec.mu.Unlock()
	if len(ends) == 0 {
		t.Fatal("no commit-log writes recorded")
	}
	for _, e := range ends {
		if e%pageSize != 0 && e != cfg.CommitLogSegmentSize {
			t.Fatalf("a commit-log write ended at file offset %d, inside a page", e)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	defer s.Close()
	res := s.GetMessages("T", 0, 0, 1000, 1<<20, nil, nil)
	msgs := decodeAll(t, res.Buffer)
	if len(msgs) != len(bodies) {
		t.Fatalf("read back %d of %d messages", len(msgs), len(bodies))
	}
	for i, m := range msgs {
		if string(m.Body) != bodies[i] {
			t.Fatalf("message %d reads back as %.20q", i, m.Body)
		}
	}
}

// countArrivals counts the messages the dispatcher reports.
type countArrivals struct{ n atomic.Int64 }

func (c *countArrivals) Arrived(string, int32, int64, int64, int64) { c.n.Add(1) }

// TestSyncFlushDispatchesACohortThatDoesNotReturn: a sync that releases
// several writers leaves their dispatch until the flusher stops waiting
// for them to append again. Writers that never come back must not leave
// their messages undispatched: each message reaches the arrival listener
// without anything else waking the dispatcher.
func TestSyncFlushDispatchesACohortThatDoesNotReturn(t *testing.T) {
	arrivals := &countArrivals{}
	first := make(chan struct{})
	var syncs atomic.Int64
	fs := vfs.Inject(vfs.NewMem(), func(op vfs.Op, path string) error {
		if op != vfs.OpSyncRange || !strings.Contains(path, "/commitlog/") {
			return nil
		}
		switch syncs.Add(1) {
		case 1: // the lone first message's sync waits for the cohort to queue
			<-first
		case 2: // the cohort's sync waits until the first message is dispatched
			// (bounded: if it never is, the test fails below, not hangs)
			for end := time.Now().Add(10 * time.Second); arrivals.n.Load() < 1 && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
	cfg := testConfig(fs)
	cfg.FlushDiskType = SyncFlush
	cfg.CheckpointInterval = time.Hour
	cfg.Arrival = arrivals
	s := mustOpen(t, cfg)
	defer s.Close()
	const writers = 16
	var wg sync.WaitGroup
	put := func(queue int32) {
		defer wg.Done()
		if r := mustPut(t, s, newMsg("T", queue, "body")); r.Status != PutOK {
			t.Errorf("put: %v", r.Status)
		}
	}
	wg.Add(1)
	go put(0)
	waitUntil(t, "the first message's sync", func() bool { return syncs.Load() >= 1 })
	for i := range writers {
		wg.Add(1)
		go put(int32(i % 4))
	}
	waitUntil(t, "the cohort to queue", func() bool { return queuedAtLeast(s.gc, writers+1) })
	close(first)
	wg.Wait()
	waitUntil(t, fmt.Sprintf("all %d messages dispatched", writers+1), func() bool { return arrivals.n.Load() >= writers+1 })
}

func queuedAtLeast(g *groupCommit, n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)-g.head >= n
}
