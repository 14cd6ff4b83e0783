package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
)

// tornTail describes the end of a commit log that did not end cleanly.
type tornTail struct {
	at      int64  // where valid data ends
	reason  string // why the bytes there are not a record
	dirty   int64  // bytes from at to the end of the last non-zero page found after it
	records int    // how many of those bytes started what looked like records
}

// recover brings the store to a consistent state; see the package doc.
func (s *Store) recover() error {
	began := time.Now()
	log := s.cfg.Logger
	ck, err := s.readCheckpoint()
	if err != nil {
		log.Warn("store: checkpoint unreadable; recovering from the first commit-log segment", "err", err)
		ck = nil
	}
	unclean, err := s.createAbortFile()
	if err != nil {
		return err
	}
	clean := !unclean && ck != nil && ck.clean
	if unclean {
		log.Warn("store: the previous run did not shut down cleanly; recovering", "dir", s.cfg.Dir)
	}

	end, err := s.recoverCommitLog(ck)
	if err != nil {
		return err
	}
	if err := s.cqs.load(); err != nil {
		return err
	}
	for _, q := range s.cqs.all() {
		var count int64
		if ck != nil {
			count = ck.queues[queueKey{q.topic, q.queueID}]
		}
		if err := q.truncate(count); err != nil {
			return err
		}
		q.synced = count
	}
	active, count := int64(-1), 0
	if ck != nil {
		active, count = ck.indexActive, ck.indexCount
	}
	if err := s.index.load(active, count, clean); err != nil {
		return err
	}

	from := s.log.files.minOffset()
	if ck != nil && ck.dispatched > from {
		from = ck.dispatched
	}
	s.dispatched.Store(from)
	if err := s.dispatchLocked(end); err != nil {
		return err
	}
	s.lastCkD.Store(from)
	for _, q := range s.cqs.all() {
		s.log.queueOffsets[queueKey{q.topic, q.queueID}] = q.maxOffset.Load()
		if err := q.resetMinOffset(s.log.files.minOffset()); err != nil {
			return err
		}
	}
	s.log.lastStoreTs = s.disp.lastStoreTs
	log.Info("store: opened", "dir", s.cfg.Dir, "commitLogMin", s.log.files.minOffset(), "commitLogEnd", end,
		"redispatchedBytes", end-from, "queues", len(s.cqs.all()), "flush", s.cfg.FlushDiskType.String(), "took", time.Since(began))
	return nil
}

// recoverCommitLog finds the end of valid data, cuts everything after it,
// and makes what is kept durable. It returns the end.
func (s *Store) recoverCommitLog(ck *checkpoint) (int64, error) {
	l := s.log
	if err := l.files.load(); err != nil {
		return 0, err
	}
	files := l.files.list()
	if len(files) == 0 {
		if ck != nil && ck.flushed > 0 {
			return 0, fmt.Errorf("%w: the checkpoint says %d commit-log bytes were synced, but %s holds no segment", ErrCorrupt, ck.flushed, s.cfg.CommitLogDir)
		}
		return 0, nil
	}
	start := files[0].start
	if ck != nil {
		start = ck.flushed
	}
	if start < files[0].start || start > files[len(files)-1].end() {
		return 0, fmt.Errorf("%w: the checkpoint says %d commit-log bytes were synced, but the segments cover [%d, %d)", ErrCorrupt, start, files[0].start, files[len(files)-1].end())
	}
	end, torn, err := s.scanCommitLog(start)
	if err != nil {
		return 0, err
	}
	if torn != nil {
		s.cfg.Logger.Warn("store: commit log ends in a torn or unsynced tail; truncated",
			"at", torn.at, "reason", torn.reason, "droppedBytes", torn.dirty, "droppedRecordStarts", torn.records)
	}
	if torn != nil || l.files.last().end() > end+s.cfg.CommitLogSegmentSize {
		if err := l.files.truncate(end); err != nil {
			return 0, err
		}
	}
	l.writeOff = end
	l.appended.Store(end)
	l.written.Store(end)
	l.flushed.Store(start)
	if l.tail != nil {
		l.tail.reset(end)
	}
	// Records between the checkpoint and the end survived in the page cache;
	// sync them before anything is acknowledged on top of them.
	if err := l.flushTo(end); err != nil {
		return 0, err
	}
	return end, nil
}

// readWindow serves reads of one segment from a chunk read ahead, so a
// sequential scan costs one read per chunk, not per record.
type readWindow struct {
	seg *dataFile
	off int64
	buf []byte
	n   int
}

// get returns the n bytes at p, which must lie in w.seg.
func (w *readWindow) get(p int64, n int) ([]byte, error) {
	if p >= w.off && p+int64(n) <= w.off+int64(w.n) {
		return w.buf[p-w.off : p-w.off+int64(n)], nil
	}
	size := min(max(int64(n), dispatchChunk), w.seg.end()-p)
	if size < int64(n) {
		return nil, fmt.Errorf("%d bytes at %d cross the end of %s", n, p, w.seg.path)
	}
	if int64(cap(w.buf)) < size {
		w.buf = make([]byte, size)
	}
	w.buf = w.buf[:size]
	if err := w.seg.readAt(w.buf, p); err != nil {
		return nil, err
	}
	w.off, w.n = p, int(size)
	return w.buf[:n], nil
}

// scanCommitLog validates records from start (a record boundary) and
// returns the offset where valid data ends.
func (s *Store) scanCommitLog(start int64) (int64, *tornTail, error) {
	var w readWindow
	p := start
	for {
		seg := s.log.files.find(p)
		if seg == nil {
			return p, nil, nil // exactly at the end of the last segment
		}
		if w.seg != seg {
			w = readWindow{seg: seg, buf: w.buf}
		}
		if seg.end()-p < message.MinBlankSize {
			return s.tornAt(p, "segment ends without a filler")
		}
		hdr, err := w.get(p, message.MinBlankSize)
		if err != nil {
			return 0, nil, err
		}
		size := int(int32(binary.BigEndian.Uint32(hdr)))
		magic := int32(binary.BigEndian.Uint32(hdr[4:]))
		switch {
		case size == 0 && magic == 0:
			dirty, records := s.dirtyExtent(p)
			if dirty == 0 {
				return p, nil, nil
			}
			return p, &tornTail{at: p, reason: "zeros where a record should start", dirty: dirty, records: records}, nil
		case magic == message.BlankMagicCode:
			if int64(size) != seg.end()-p {
				return s.tornAt(p, fmt.Sprintf("filler of %d bytes does not reach the segment end %d", size, seg.end()))
			}
			p = seg.end()
			continue
		case magic != message.MagicCode:
			return s.tornAt(p, fmt.Sprintf("bad magic code %#08x", uint32(magic)))
		case size < message.MinBlankSize || size > s.cfg.MaxRecordSize || p+int64(size) > seg.end():
			return s.tornAt(p, fmt.Sprintf("record size %d does not fit", size))
		}
		rec, err := w.get(p, size)
		if err != nil {
			return 0, nil, err
		}
		if _, _, err := message.CheckRecord(rec, true); err != nil {
			return s.tornAt(p, err.Error())
		}
		if err := message.CheckText(rec); err != nil {
			return s.tornAt(p, err.Error()) // a lost page over the topic or properties
		}
		if got := message.Record(rec).PhysicalOffset(); got != p {
			return s.tornAt(p, fmt.Sprintf("record claims commit-log offset %d", got))
		}
		p += int64(size)
	}
}

func (s *Store) tornAt(at int64, reason string) (int64, *tornTail, error) {
	dirty, records := s.dirtyExtent(at)
	return at, &tornTail{at: at, reason: reason, dirty: dirty, records: records}, nil
}

// dirtyExtent measures the data after a recovered end: the distance to the
// end of the last non-zero 4 KiB page, looking in each segment until 1 MiB
// of zeros follows, and how many positions there hold a valid-looking
// record (reported so an operator can tell lost writes from corruption).
func (s *Store) dirtyExtent(from int64) (int64, int) {
	const page, zeroRun = 4096, 256
	var last int64 = -1
	records := 0
	buf := make([]byte, page)
	for _, seg := range s.log.files.list() {
		if seg.end() <= from {
			continue
		}
		zeros := 0
		for off := max(seg.start, from); off < seg.end() && zeros < zeroRun; off += page {
			n := min(int64(page), seg.end()-off)
			if err := seg.readAt(buf[:n], off); err != nil {
				break
			}
			if allZero(buf[:n]) {
				zeros++
				continue
			}
			zeros = 0
			last = off + n
			for i := 0; i+8 <= int(n); i++ {
				if int32(binary.BigEndian.Uint32(buf[i+4:])) == message.MagicCode {
					records++
				}
			}
		}
	}
	if last < 0 {
		return 0, 0
	}
	return last - from, records
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
