package store

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Warming commit-log segments, under SYNC_FLUSH.
//
// Segments are preallocated with fallocate, which leaves their blocks
// "unwritten": the first write into such a block must also commit the
// extent's conversion to the file-system journal when it is synced. Under
// SYNC_FLUSH every append waits for a sync, so that journal commit sits on
// the critical path of every group commit. Measured on the development VM
// (ext4 on virtio): a 64 KiB write + fdatasync took 550 µs into fallocated
// blocks and 205 µs into blocks already written with zeros and synced.
//
// So, like RocketMQ's AllocateMappedFileService with warmMapedFileEnable,
// a goroutine prepares the next segment before the log reaches it: it
// creates the file under a temporary name, preallocates it, writes zeros
// through it and syncs them, and the roll renames it into place. The zeros
// go out with direct I/O where the file system has it: written through the
// page cache they cost a copy per byte (the broker's SYNC_FLUSH benchmark
// row spent 9 s of system CPU per run with buffered zeros, 6.4 s with
// direct ones) and reach the disk in bursts that the group commit's syncs
// queue behind (see vfs.DirectOpener). Zeroing
// another file leaves the live segment's inode alone (writing zeros into
// the live segment instead stalled its syncs behind the zeros' writeback
// and halved throughput). The cost is one segment of extra disk space and
// each commit-log byte written twice, the first time off the critical path.
//
// The zeros share the disk with the group commit's own writes and syncs,
// and a zero write queued ahead of a group commit's write delays every
// writer waiting on it. So the flusher hands the warmer a turn each time a
// sync completes (diskIdle): the disk then idles while the released
// writers append again, and a chunk of zeros written in that window costs
// the next group commit little. A chunk is kept small (128 KiB) so that
// little of it is still queued when that group commit writes. Paced 1 MiB
// chunks landed anywhere in the cycle: in the 64-writer benchmark 1% of
// group commits waited over 1 ms, and their I/O averaged 218-263 µs
// against 192-234 µs with 128 KiB chunks on the flusher's turns (p99 0.3-
// 0.5 ms), which outweighed the writers' slower return (the warmer's
// write holds a P): 3 of 4 interleaved pairs faster. The pacer still
// writes a chunk whenever the warmer falls behind, with or without turns.
//
// A roll never waits for warming: if the next segment is still being
// zeroed, the warmer stops at the end of its current chunk and the roll
// takes the file as it is (preallocated, partly zeroed), which is no worse
// than a cold file. Under ASYNC_FLUSH syncs are rare and off the append
// path, so segments are not warmed.
const (
	warmSuffix = ".warming"
	warmChunk  = 128 << 10 // zeros per write; see above
	warmSyncAt = 4 << 20   // sync every this many bytes: short syncs, few dirty pages
	// Direct writes leave no dirty pages; the sync only commits the
	// extents' conversion (a journal commit and a cache flush), so it can
	// be rarer.
	warmDirectSyncAt = 16 << 20
)

// zeroBlock is aligned for direct I/O.
var zeroBlock = vfs.AlignedBuffer(warmChunk)

// segmentWarmer prepares one segment at a time for a fileQueue.
type segmentWarmer struct {
	fs     vfs.FS
	dir    string
	size   int64
	logger *slog.Logger

	mu      sync.Mutex
	changed *sync.Cond // signalled when busy or ready changes
	want    int64      // start of the segment to prepare; -1: none
	busy    int64      // start being prepared; -1: none
	cancel  bool       // take wants busy's file now
	ready   int64      // start whose file is prepared (maybe partly zeroed); -1: none
	wake    chan struct{}
	turn    chan struct{} // kicked by diskIdle
	settled chan struct{} // kicked whenever a preparation ends
	// cancelKick interrupts a pacing pause when take sets cancel.
	cancelKick chan struct{}
	// appended reports the log's end, for pacing; nil paces nothing.
	appended func() int64
	taken    atomic.Int64 // segments handed over, for tests and statistics
}

func newSegmentWarmer(fs vfs.FS, dir string, size int64, logger *slog.Logger) *segmentWarmer {
	w := &segmentWarmer{fs: fs, dir: dir, size: size, logger: logger, want: -1, busy: -1, ready: -1, wake: make(chan struct{}, 1), turn: make(chan struct{}, 1), settled: make(chan struct{}, 1), cancelKick: make(chan struct{}, 1)}
	w.changed = sync.NewCond(&w.mu)
	return w
}

func (w *segmentWarmer) tmpPath(start int64) string {
	return path.Join(w.dir, fileName(start)+warmSuffix)
}

// request asks for the segment starting at start to be prepared, replacing
// any earlier request.
func (w *segmentWarmer) request(start int64) {
	w.mu.Lock()
	w.want = start
	w.mu.Unlock()
	kick(w.wake)
}

// take hands over the prepared file for start, renamed to its final name,
// and reports whether there was one. A file still being zeroed is taken as
// it is. Called with the file queue's lock held.
func (w *segmentWarmer) take(start int64) (bool, error) {
	w.mu.Lock()
	if w.busy == start {
		w.cancel = true
		kick(w.cancelKick)
		for w.busy == start {
			w.changed.Wait()
		}
	}
	if w.want == start {
		w.want = -1 // whether taken or created cold, it exists now
	}
	if w.ready != start {
		w.mu.Unlock()
		return false, nil
	}
	w.ready = -1
	w.mu.Unlock()
	final := path.Join(w.dir, fileName(start))
	if err := w.fs.Rename(w.tmpPath(start), final); err != nil {
		return false, fmt.Errorf("rename warmed segment %s: %w", final, err)
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return false, fmt.Errorf("sync directory %s: %w", w.dir, err)
	}
	w.taken.Add(1)
	return true, nil
}

// diskIdle tells the warmer that a group commit's sync just completed, so
// the disk has a moment with nothing else to do: the warmer writes its
// next chunk now instead of waiting out its pacing.
func (w *segmentWarmer) diskIdle() { kick(w.turn) }

// awaitFirst waits, at most timeout, until the segment at start is
// prepared. Open uses it for a store's very first segment, which would
// otherwise be taken (half zeroed) by the first append moments later.
func (w *segmentWarmer) awaitFirst(start int64, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		w.mu.Lock()
		pending := w.ready != start && (w.want == start || w.busy == start)
		w.mu.Unlock()
		if !pending {
			return
		}
		select {
		case <-w.settled:
		case <-t.C:
			return
		}
	}
}

// run prepares requested segments until stop closes, then removes any
// prepared file nobody took.
func (w *segmentWarmer) run(stop <-chan struct{}) {
	for {
		select {
		case <-w.wake:
		case <-stop:
			w.discard()
			return
		}
		w.mu.Lock()
		start := w.want
		if start < 0 || start == w.ready {
			w.mu.Unlock()
			continue
		}
		old := w.ready
		w.ready, w.busy, w.cancel = -1, start, false
		select {
		case <-w.cancelKick: // a stale kick from an earlier take
		default:
		}
		w.mu.Unlock()
		if old >= 0 {
			w.fs.Remove(w.tmpPath(old)) // superseded by a later request
		}
		err := w.prepare(start, stop)
		w.mu.Lock()
		w.busy = -1
		if err == nil {
			w.ready = start
		}
		w.changed.Broadcast()
		w.mu.Unlock()
		kick(w.settled)
		if err != nil {
			w.fs.Remove(w.tmpPath(start))
			if err != errWarmStopped {
				w.logger.Warn("store: warming the next commit-log segment failed; SYNC_FLUSH syncs into it will be slower", "segment", fileName(start), "err", err)
			}
		}
	}
}

var errWarmStopped = errors.New("stopped")

// prepare creates, preallocates and zeroes the file for start. It returns
// early, with the file usable, when take cancels it, and errWarmStopped
// when the store closes.
func (w *segmentWarmer) prepare(start int64, stop <-chan struct{}) error {
	p := w.tmpPath(start)
	f, err := w.fs.Create(p)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Preallocate(w.size); err != nil {
		return fmt.Errorf("preallocate %s: %w", p, err)
	}
	if err := f.Sync(); err != nil { // the size must be durable before the rename
		return fmt.Errorf("sync %s: %w", p, err)
	}
	zw := w.openZeroWriter(p, f)
	defer zw.close()
	pace := w.newPacer(start)
	rest := time.NewTimer(time.Hour)
	defer rest.Stop()
	var unsynced int64
	for off := int64(0); off < w.size; {
		if w.cancelled() {
			return nil
		}
		n := min(int64(warmChunk), w.size-off)
		if err := zw.write(zeroBlock[:n], off); err != nil {
			return fmt.Errorf("zero %s at %d: %w", p, off, err)
		}
		off += n
		if unsynced += n; unsynced >= zw.syncAt() || off == w.size {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("sync %s: %w", p, err)
			}
			unsynced = 0
		}
		rest.Reset(pace.rest(off))
		for waiting := true; waiting; {
			select {
			case <-stop:
				return errWarmStopped
			case <-w.cancelKick:
				waiting = false
			case <-rest.C:
				waiting = false
			case <-w.turn:
				waiting = !pace.turnAllowed(off)
			}
		}
	}
	return nil
}

// zeroWriter writes a warming segment's zeros with direct I/O when the
// file system offers it (see vfs.DirectOpener for why), through the plain
// handle otherwise, and for good after a direct write fails (a file
// system that takes O_DIRECT at open but not for this write, an unaligned
// tail).
type zeroWriter struct {
	plain  vfs.File
	direct vfs.File // nil: plain writes
}

func (w *segmentWarmer) openZeroWriter(p string, plain vfs.File) *zeroWriter {
	zw := &zeroWriter{plain: plain}
	if d, ok := w.fs.(vfs.DirectOpener); ok {
		if f, err := d.OpenDirect(p); err == nil {
			zw.direct = f
		} else {
			w.logger.Debug("store: warming without direct I/O", "segment", p, "err", err)
		}
	}
	return zw
}

func (zw *zeroWriter) write(b []byte, off int64) error {
	if zw.direct != nil && len(b)%vfs.DirectAlign == 0 && off%vfs.DirectAlign == 0 {
		if _, err := zw.direct.WriteAt(b, off); err == nil {
			return nil
		}
		zw.close() // the plain write below redoes the whole chunk
	}
	_, err := zw.plain.WriteAt(b, off)
	return err
}

func (zw *zeroWriter) syncAt() int64 {
	if zw.direct != nil {
		return warmDirectSyncAt
	}
	return warmSyncAt
}

func (zw *zeroWriter) close() {
	if zw.direct != nil {
		zw.direct.Close()
		zw.direct = nil
	}
}

// warmPacer spreads warming over the time the log leaves it. Zeroing at
// full speed competes with the group commit for the disk: warming a 1 GiB
// segment flat out halved SYNC_FLUSH throughput while it ran. So the
// warmer zeroes just fast enough to finish when the log, at the rate it
// has grown since warming began, has used 3/4 of the room before the
// segment. An idle log leaves the disk idle, and then it goes flat out.
type warmPacer struct {
	w          *segmentWarmer
	start      int64 // the segment's start
	began      time.Time
	fromOffset int64 // the log's end when warming began
	last       time.Time
}

func (w *segmentWarmer) newPacer(start int64) *warmPacer {
	now := time.Now()
	pc := &warmPacer{w: w, start: start, began: now, last: now}
	if w.appended != nil {
		pc.fromOffset = w.appended()
	}
	return pc
}

// rest returns the pause before the next chunk, done bytes being zeroed.
func (pc *warmPacer) rest(done int64) time.Duration {
	now := time.Now()
	spent := now.Sub(pc.last)
	pc.last = now
	if pc.w.appended == nil {
		return 0
	}
	end := pc.w.appended()
	grown, elapsed := float64(end-pc.fromOffset), now.Sub(pc.began).Seconds()
	room := float64(pc.start - end)
	if grown <= 0 || elapsed <= 0 || room <= 0 {
		return 0
	}
	deadline := 0.75 * room / (grown / elapsed)                  // seconds left to finish in
	perChunk := deadline / (float64(pc.w.size-done) / warmChunk) // seconds per remaining chunk
	return max(0, time.Duration(perChunk*float64(time.Second))-spent)
}

// turnAllowed reports whether a turn (diskIdle) may write the next chunk,
// done bytes being zeroed: only while the zeros stay within twice the
// log's growth since warming began, plus a chunk. A turn comes with every
// sync, however few bytes it covered, so unbounded turns would zero at
// the disk's full speed (a broker's 1 GiB segment in seconds) and slow
// every sync meanwhile; at twice the log's pace the segment is still ready
// in half the time the log takes to reach it.
func (pc *warmPacer) turnAllowed(done int64) bool {
	if pc.w.appended == nil {
		return true
	}
	return done <= 2*(pc.w.appended()-pc.fromOffset)+warmChunk
}

func (w *segmentWarmer) cancelled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancel
}

// discard removes a prepared file nobody took.
func (w *segmentWarmer) discard() {
	w.mu.Lock()
	old := w.ready
	w.ready = -1
	w.mu.Unlock()
	if old >= 0 {
		w.fs.Remove(w.tmpPath(old))
	}
}

// isWarmLeftover reports whether name is a segment a crash left half
// prepared; Open deletes such files.
func isWarmLeftover(name string) bool { return strings.HasSuffix(name, warmSuffix) }
