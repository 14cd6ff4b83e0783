package store

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// testEntry is the entry the tail tests put at queue offset i.
func testEntry(i int64) cqEntry {
	return cqEntry{phys: 1000 + i*100, size: int32(i%97 + 1), tagsCode: -i}
}

// commitEntries stages and commits entries [from, to) in rounds of per.
func commitEntries(t testing.TB, q *consumeQueue, from, to int64, per int) {
	t.Helper()
	for i := from; i < to; {
		for n := 0; n < per && i < to; n++ {
			if added, err := q.stage(i, testEntry(i)); err != nil || !added {
				t.Fatalf("stage %d: added %v, %v", i, added, err)
			}
			i++
		}
		if err := q.commit(); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
}

// checkEntries reads [from, to) with readEntries, in reads of up to 64
// entries (short reads continue where they stopped), and compares.
func checkEntries(t testing.TB, q *consumeQueue, from, to int64) {
	t.Helper()
	var buf [64 * cqEntrySize]byte
	for i := from; i < to; {
		b, err := q.readEntries(buf[:], i)
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d of [%d, %d): %d bytes, %v", i, from, to, len(b), err)
		}
		for ; len(b) > 0; b = b[cqEntrySize:] {
			if got, want := getEntry(b), testEntry(i); got != want {
				t.Fatalf("entry %d: %+v, want %+v", i, got, want)
			}
			i++
		}
	}
}

// checkFile reads [from, to) from the queue's files, bypassing the tail.
func checkFile(t testing.TB, q *consumeQueue, from, to int64) {
	t.Helper()
	for i := from; i < to; i++ {
		f := q.files.find(i * cqEntrySize)
		if f == nil {
			t.Fatalf("no file holds entry %d", i)
		}
		var b [cqEntrySize]byte
		if err := f.readAt(b[:], i*cqEntrySize); err != nil {
			t.Fatalf("read entry %d from the file: %v", i, err)
		}
		if got, want := getEntry(b[:]), testEntry(i); got != want {
			t.Fatalf("file entry %d: %+v, want %+v", i, got, want)
		}
	}
}

// writeCounter counts the consume-queue writes of a file system.
func writeCounter(fs vfs.FS) (vfs.FS, *atomic.Int64) {
	var n atomic.Int64
	return vfs.Inject(fs, func(op vfs.Op, p string) error {
		if op == vfs.OpWriteAt && strings.Contains(p, "/consumequeue/") {
			n.Add(1)
		}
		return nil
	}), &n
}

// The tail keeps new entries readable before they reach the file, and
// writes them in blocks: one entry per round must not mean one write per
// round.
func TestConsumeQueueTailBatchesWrites(t *testing.T) {
	fs, writes := writeCounter(vfs.NewMem())
	q := newConsumeQueue(fs, "/store", "T", 0, 100_000)
	defer q.files.close()

	commitEntries(t, q, 0, 10, 1)
	checkEntries(t, q, 0, 10)
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes for 10 entries in the tail", n)
	}

	const total = 20*tailEntries + 7
	commitEntries(t, q, 10, total, 1)
	if got := q.maxOffset.Load(); got != total {
		t.Fatalf("maxOffset %d, want %d", got, total)
	}
	// A write-out every half tail at most.
	if n, most := writes.Load(), int64(2*total/tailEntries+1); n == 0 || n > most {
		t.Fatalf("%d writes for %d entries committed one a round (want 1-%d)", n, total, most)
	}
	checkEntries(t, q, 0, total)                   // across the file and the tail
	checkEntries(t, q, total-tailEntries/2, total) // the tail only
	if err := q.writeOut(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, q, 0, total)

	// A round larger than half a tail (a backlog dispatched at once).
	commitEntries(t, q, total, total+3*tailEntries, 3*tailEntries)
	checkFile(t, q, total, total+3*tailEntries)
	checkEntries(t, q, total-5, total+3*tailEntries)
	commitEntries(t, q, total+3*tailEntries, total+4*tailEntries, 1)
	checkEntries(t, q, 0, total+4*tailEntries)
}

// A queue truncated (recovery) or started at a later offset keeps its
// entries readable and its file consistent.
func TestConsumeQueueTailTruncateAndJump(t *testing.T) {
	q := newConsumeQueue(vfs.NewMem(), "/store", "T", 0, 64)
	defer q.files.close()
	commitEntries(t, q, 0, 300, 7)
	if err := q.truncate(200); err != nil {
		t.Fatal(err)
	}
	checkFile(t, q, 0, 200)
	if got := q.maxOffset.Load(); got != 200 {
		t.Fatalf("maxOffset %d after truncate", got)
	}
	commitEntries(t, q, 200, 260, 3)
	checkEntries(t, q, 0, 260)

	// Everything expired: the next entry may start further on.
	q.minOffset.Store(q.maxOffset.Load())
	commitEntries(t, q, 5000, 5010, 2)
	if min, max := q.minOffset.Load(), q.maxOffset.Load(); min != 5000 || max != 5010 {
		t.Fatalf("offsets %d-%d after a jump to 5000", min, max)
	}
	checkFile(t, q, 0, 260)
	checkEntries(t, q, 5000, 5010)
	if err := q.resetMinOffset(0); err != nil || q.minOffset.Load() != 5000 {
		t.Fatalf("min offset %d, %v", q.minOffset.Load(), err)
	}
}

// Readers at the head of a queue copy from the tail while the dispatcher
// commits and compacts it (run with -race).
func TestConsumeQueueTailConcurrentReaders(t *testing.T) {
	q := newConsumeQueue(vfs.NewMem(), "/store", "T", 0, 1000)
	defer q.files.close()
	const total = 30 * tailEntries
	var wg sync.WaitGroup
	var done atomic.Bool
	for r := range 3 {
		wg.Go(func() {
			var buf [64 * cqEntrySize]byte
			next := int64(0)
			for !done.Load() || next < total {
				if r == 2 {
					next = max(0, q.maxOffset.Load()-int64(r*tailEntries)) // lagging behind the tail
				}
				b, err := q.readEntries(buf[:], next)
				if err != nil {
					t.Errorf("read at %d: %v", next, err)
					return
				}
				for ; len(b) > 0; b = b[cqEntrySize:] {
					if got, want := getEntry(b), testEntry(next); got != want {
						t.Errorf("entry %d: %+v, want %+v", next, got, want)
						return
					}
					next++
				}
				if r == 2 && done.Load() {
					return
				}
			}
		})
	}
	commitEntries(t, q, 0, total, 3)
	done.Store(true)
	wg.Wait()
}
