package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

type queueKey struct {
	topic string
	id    int32
}

// commitLog is the append-only log of every message. One writer at a time
// appends under mu; readers read complete records below written without
// locking.
//
// Under ASYNC_FLUSH an append encodes its records and writes them with one
// WriteAt before returning, so they are in the file (the page cache) when
// Put returns. Under SYNC_FLUSH an append must wait for a sync anyway, so
// it only stages its records in memory; flushTo writes everything staged
// with one WriteAt per segment and then syncs. A batch of waiters then
// costs one write and one sync instead of a write each.
type commitLog struct {
	cfg    *Config
	files  *fileQueue
	staged bool // SYNC_FLUSH: appends are written by flushTo

	mu sync.Mutex // the put lock
	// Guarded by mu.
	writeOff     int64              // next byte to append
	lastStoreTs  int64              // store timestamps never go backwards
	queueOffsets map[queueKey]int64 // next queue offset of each queue
	refuse       error              // set when appends must stop (closing, failed write or sync)
	buf          []byte             // encode buffer (ASYNC_FLUSH)
	stage        []stageChunk       // appended, not yet written (SYNC_FLUSH)
	stageBuf     []byte             // bytes of the staged chunks
	stageDrained *sync.Cond         // signalled when flushTo takes the staged bytes

	appended atomic.Int64 // writeOff, for readers without the lock
	written  atomic.Int64 // end of the records in the file
	flushed  atomic.Int64 // everything below is synced

	flushMu     sync.Mutex   // one flush at a time; guards the fields below
	spareChunks []stageChunk // recycled by flushTo
	spareBuf    []byte
	directBuf   []byte       // aligned buffer for direct writes
	writeErr    error        // a failed writeStaged, repeated to every later call
	syncs       atomic.Int64 // completed syncs, for statistics

	// tail holds the last bytes written under SYNC_FLUSH, whose direct
	// writes leave nothing in the page cache for readers (nil under
	// ASYNC_FLUSH).
	tail *tailCache
}

// defaultTailCacheSize is the tail cache's size: a few seconds of a busy
// SYNC_FLUSH log, so the dispatcher and consumers at the head of their
// queues read from memory.
const defaultTailCacheSize = 32 << 20

// stageChunk is a contiguous run of staged commit-log bytes: stageBuf[from:to]
// belongs at commit-log offset phys.
type stageChunk struct {
	phys     int64
	from, to int
}

// maxStaged bounds the staged bytes; appenders wait beyond it, so a stuck
// disk cannot grow memory without bound.
const maxStaged = 64 << 20

func newCommitLog(cfg *Config) *commitLog {
	l := &commitLog{
		cfg: cfg,
		// Mapped for reads under ASYNC_FLUSH only: under SYNC_FLUSH a
		// mapping turns SyncRange into msync, and the group commit was
		// no faster that way (10% slower in an A/B here).
		files:        newFileQueue(cfg.FS, cfg.CommitLogDir, cfg.CommitLogSegmentSize, cfg.FlushDiskType != SyncFlush),
		staged:       cfg.FlushDiskType == SyncFlush,
		queueOffsets: make(map[queueKey]int64),
	}
	if l.staged {
		l.files.direct = true
		l.tail = newTailCache(cfg.tailCacheSize)
	}
	l.stageDrained = sync.NewCond(&l.mu)
	return l
}

// emitLocked puts bytes that belong at phys into the file (ASYNC_FLUSH) or
// the stage (SYNC_FLUSH).
func (l *commitLog) emitLocked(seg *dataFile, b []byte, phys int64) error {
	if !l.staged {
		if err := seg.writeAt(b, phys); err != nil {
			return fmt.Errorf("%w: %w", errWriteFailed, err)
		}
		return nil
	}
	n := len(l.stage)
	if n > 0 && l.stage[n-1].phys+int64(l.stage[n-1].to-l.stage[n-1].from) == phys {
		l.stage[n-1].to += len(b)
	} else {
		l.stage = append(l.stage, stageChunk{phys: phys, from: len(l.stageBuf), to: len(l.stageBuf) + len(b)})
	}
	if cap(l.stageBuf) > len(l.stageBuf) && len(b) > 0 && &l.stageBuf[:len(l.stageBuf)+1][len(l.stageBuf)] == &b[0] {
		l.stageBuf = l.stageBuf[:len(l.stageBuf)+len(b)] // encoded in place by bufferLocked
	} else {
		l.stageBuf = append(l.stageBuf, b...)
	}
	return nil
}

// waitStageRoomLocked blocks while the stage holds more than maxStaged
// bytes. It releases mu while waiting, so it runs before anything is
// reserved.
func (l *commitLog) waitStageRoomLocked() error {
	for l.staged && len(l.stageBuf) > maxStaged && l.refuse == nil {
		l.stageDrained.Wait()
	}
	return l.refuse
}

// appendResult describes where a record or batch went.
type appendResult struct {
	physOffset     int64
	queueOffset    int64
	storeTimestamp int64
	wroteBytes     int
	end            int64 // commit-log offset after the append
}

var (
	blankHeader [message.MinBlankSize]byte
	zeroPage    [pageSize]byte
)

// reserveLocked returns the segment where size bytes can be written at
// writeOff, rolling to a new segment (after a blank filler) when needed.
// The filler's header is enough: recovery checks that a blank's size
// reaches its segment's end.
func (l *commitLog) reserveLocked(size int) (*dataFile, error) {
	seg := l.files.last()
	if seg != nil && l.writeOff+int64(size)+message.MinBlankSize <= seg.end() {
		return seg, nil
	}
	if seg != nil && l.writeOff < seg.end() {
		message.PutBlank(blankHeader[:], int(seg.end()-l.writeOff))
		if err := l.emitLocked(seg, blankHeader[:], l.writeOff); err != nil {
			return nil, err
		}
		if l.staged { // whole pages, as writeStaged writes them
			at := l.writeOff + message.MinBlankSize
			pad := pagePadding(at-seg.start, seg.end()-at)
			if err := l.emitLocked(seg, zeroPage[:pad], at); err != nil {
				return nil, err
			}
		}
		l.writeOff = seg.end()
		l.appended.Store(l.writeOff)
		if !l.staged {
			l.written.Store(l.writeOff)
		}
	}
	next, err := l.files.create(l.writeOff)
	if err != nil {
		return nil, &createError{err}
	}
	return next, nil
}

// createError is a failed segment creation: nothing was written, so the
// append can be retried (a full disk may be cleaned meanwhile).
type createError struct{ err error }

func (e *createError) Error() string   { return "new commit-log segment: " + e.err.Error() }
func (e *createError) Unwrap() []error { return []error{errWriteFailed, e.err} }

func (l *commitLog) storeTimestampLocked() int64 {
	ts := l.cfg.Now().UnixMilli()
	if ts < l.lastStoreTs {
		ts = l.lastStoreTs
	}
	l.lastStoreTs = ts
	return ts
}

// consumesQueueOffset reports whether a record of this sysFlag enters a
// consume queue (prepared and rolled-back transaction records do not).
func consumesQueueOffset(sysFlag int32) bool {
	t := message.TransactionType(sysFlag)
	return t == message.TransactionNotType || t == message.TransactionCommitType
}

// bufferLocked returns n bytes to encode into: the encode buffer, or the
// free space at the end of the stage.
func (l *commitLog) bufferLocked(n int) []byte {
	if l.staged {
		l.stageBuf = slices.Grow(l.stageBuf, n)
		return l.stageBuf[len(l.stageBuf) : len(l.stageBuf)+n]
	}
	if cap(l.buf) < n {
		l.buf = make([]byte, n)
	}
	return l.buf[:n]
}

// appendLocked stores msgs, which share topic and queue, contiguously in
// one segment with consecutive queue offsets (one message is a batch of
// one). PrepareEncode must have been called on each.
func (l *commitLog) appendLocked(msgs []message.Message) (appendResult, error) {
	if err := l.waitStageRoomLocked(); err != nil {
		return appendResult{}, err
	}
	total := 0
	for i := range msgs {
		total += msgs[i].EncodedSize()
	}
	seg, err := l.reserveLocked(total)
	if err != nil {
		return appendResult{}, err
	}
	key := queueKey{msgs[0].Topic, msgs[0].QueueID}
	counted := consumesQueueOffset(msgs[0].SysFlag)
	var qo int64
	if counted {
		qo = l.queueOffsets[key]
	}
	ts := l.storeTimestampLocked()
	phys := l.writeOff
	buf := l.bufferLocked(total)
	pos := 0
	for i := range msgs {
		q := qo
		if counted {
			q += int64(i)
		}
		pos += msgs[i].Encode(buf[pos:], q, phys+int64(pos), ts)
	}
	if err := l.emitLocked(seg, buf, phys); err != nil {
		return appendResult{}, err
	}
	if counted {
		l.queueOffsets[key] = qo + int64(len(msgs))
	}
	l.writeOff = phys + int64(total)
	l.appended.Store(l.writeOff)
	if !l.staged {
		l.written.Store(l.writeOff)
	}
	return appendResult{physOffset: phys, queueOffset: qo, storeTimestamp: ts, wroteBytes: total, end: l.writeOff}, nil
}

// flushTo makes everything below target durable, writing out what is
// staged first.
func (l *commitLog) flushTo(target int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.staged && target > l.written.Load() {
		if err := l.writeStaged(); err != nil {
			return err
		}
		target = min(target, l.written.Load())
	}
	from := l.flushed.Load()
	if target <= from {
		return nil
	}
	for _, f := range l.files.list() {
		if f.end() <= from || f.start >= target {
			continue
		}
		if err := f.sync(from, target); err != nil {
			return err
		}
	}
	l.flushed.Store(target)
	l.syncs.Add(1)
	return nil
}

// writeStaged takes everything staged and writes it, one write per
// segment touched. Called with flushMu held.
//
// Segments with a direct handle (see vfs.DirectOpener) are written with
// direct I/O: whole pages, from the start of the page where the last write
// ended (its first bytes copied from the tail cache) to the end of the
// page where this one ends, zeros after the records. A buffered write
// followed by fdatasync cost 30-40 µs to copy 64 KiB into the page cache
// plus 150-180 µs to write it back; the direct write takes about 100 µs
// and the sync after it only flushes the disk's cache (about 65 µs), so
// 64 writers went from 197-207k to 215-222k appends/s here. Readers find
// the bytes in the tail cache instead.
//
// Without a direct handle the write is buffered, and its end is still
// padded with zeros to the end of its page. A buffered write that covers
// only part of a page the page cache does not hold makes the kernel read
// that block from disk first, and the warmer zeroes segments with direct
// I/O, so without the padding every group commit began with a synchronous
// read of the page after its batch (a 64 KiB write took 100-125 µs
// instead of 30-40). Written whole, the page needs no read, and the next
// batch finds its first page cached.
//
// Either way the padding lands past the log's end, where the segment holds
// zeros anyway (see recovery), and readers never read past written.
//
// A failed write leaves a hole in the file that later writes must not
// paper over, so it fails every later call too (the store then refuses
// appends until a restart, which recovers the log up to the hole).
func (l *commitLog) writeStaged() error {
	if l.writeErr != nil {
		return l.writeErr
	}
	l.mu.Lock()
	chunks, buf, end := l.stage, l.stageBuf, l.writeOff
	l.stage, l.stageBuf = l.spareChunks[:0], l.spareBuf[:0]
	l.stageDrained.Broadcast()
	l.mu.Unlock()
	buf = slices.Grow(buf, pageSize)
	zeros := buf[len(buf) : len(buf)+pageSize]
	clear(zeros)
	for _, c := range chunks {
		b, phys := buf[c.from:c.to], c.phys
		for len(b) > 0 {
			seg := l.files.find(phys)
			if seg == nil {
				l.writeErr = fmt.Errorf("%w: no segment for staged bytes at %d", errWriteFailed, phys)
				return l.writeErr
			}
			n := min(int64(len(b)), seg.end()-phys)
			if err := l.writePiece(seg, b[:n], phys, n == int64(len(b)) && c.to == len(buf)); err != nil {
				l.writeErr = fmt.Errorf("%w: %w", errWriteFailed, err)
				return l.writeErr
			}
			l.tail.put(b[:n], phys)
			b, phys = b[n:], phys+n
		}
	}
	clear(chunks)
	l.spareChunks, l.spareBuf = chunks[:0], buf[:0]
	l.written.Store(end)
	return nil
}

// writePiece writes b, staged bytes that belong at phys in seg. When last
// (the end of everything staged), the buffered write is padded to its
// page end; b's backing array must have room for that padding, zeroed.
func (l *commitLog) writePiece(seg *dataFile, b []byte, phys int64, last bool) error {
	if d := l.files.directHandle(seg); d != nil {
		err := l.writeDirect(seg, d, b, phys)
		if err == nil {
			return nil
		}
		// A file system that takes O_DIRECT at open but not for this
		// write: the plain write below redoes the whole range.
		l.cfg.Logger.Warn("store: direct write failed; writing the commit log through the page cache", "segment", seg.path, "err", err)
		seg.dropDirect()
	}
	w := b
	if last {
		w = b[:int64(len(b))+pagePadding(phys+int64(len(b))-seg.start, seg.end()-phys-int64(len(b)))]
	}
	return seg.writeAt(w, phys)
}

// writeDirect writes b at phys through seg's direct handle d, as whole
// pages: the bytes of the first page before phys come from the tail
// cache (or the file, after a restart), and zeros follow b to its page's
// end.
func (l *commitLog) writeDirect(seg *dataFile, d vfs.File, b []byte, phys int64) error {
	rel := phys - seg.start
	from := rel &^ (pageSize - 1)
	head := int(rel - from)
	total := (head + len(b) + pageSize - 1) &^ (pageSize - 1)
	if cap(l.directBuf) < total {
		l.directBuf = vfs.AlignedBuffer(max(total, 2*cap(l.directBuf)))
	}
	w := l.directBuf[:total]
	if head > 0 && !l.tail.read(w[:head], phys-int64(head)) {
		if err := seg.readAt(w[:head], phys-int64(head)); err != nil {
			return err
		}
	}
	copy(w[head:], b)
	clear(w[head+len(b):])
	err := seg.writeDirect(d, w, seg.start+from)
	if cap(l.directBuf) > maxKeptDirectBuf {
		l.directBuf = nil // a rare huge batch (a stalled disk): do not keep its buffer
	}
	return err
}

// maxKeptDirectBuf bounds the direct-write buffer kept between flushes.
const maxKeptDirectBuf = 4 << 20

// pageSize is the page-cache granularity writeStaged pads to.
const pageSize = 4096

// pagePadding is how many zeros take file offset at to the end of its
// page, at most room (the bytes left in the segment).
func pagePadding(at, room int64) int64 {
	return min((pageSize-at%pageSize)%pageSize, room)
}

// segmentFor returns the segment holding [phys, phys+n), checking that the
// range is written.
func (l *commitLog) segmentFor(phys int64, n int) (*dataFile, error) {
	if phys < 0 || n < 0 {
		return nil, fmt.Errorf("%w: commit-log range %d+%d", ErrOffsetInvalid, phys, n)
	}
	seg := l.files.find(phys)
	if seg == nil {
		if min := l.files.minOffset(); phys < min {
			return nil, fmt.Errorf("%w: commit-log offset %d is below the oldest kept %d", ErrMessageRemoved, phys, min)
		}
		return nil, fmt.Errorf("%w: commit-log offset %d is past the end", ErrOffsetInvalid, phys)
	}
	if phys+int64(n) > seg.end() || phys+int64(n) > l.written.Load() {
		return nil, fmt.Errorf("%w: commit-log range %d+%d is past the written data", ErrOffsetInvalid, phys, n)
	}
	return seg, nil
}

// read fills b from the commit log at phys.
func (l *commitLog) read(b []byte, phys int64) error {
	seg, err := l.segmentFor(phys, len(b))
	if err != nil {
		return err
	}
	if err := l.readIn(seg, b, phys); err != nil {
		if l.files.find(phys) != seg {
			return fmt.Errorf("%w: commit-log offset %d", ErrMessageRemoved, phys)
		}
		return err
	}
	return nil
}

// readIn fills b from phys in seg, a range below written: from the tail
// cache when it holds the range, else from the file.
func (l *commitLog) readIn(seg *dataFile, b []byte, phys int64) error {
	if l.tail != nil && l.tail.read(b, phys) {
		return nil
	}
	return seg.readAt(b, phys)
}

// appendRange appends the n bytes at phys to dst.
func (l *commitLog) appendRange(dst []byte, phys int64, n int) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, n)
	if err := l.read(dst[start:], phys); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// appendRecord appends the whole record at phys to dst, checking its
// structure and CRC.
func (l *commitLog) appendRecord(dst []byte, phys int64) ([]byte, error) {
	var hdr [message.MinBlankSize]byte
	if err := l.read(hdr[:], phys); err != nil {
		return dst, err
	}
	size := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if int32(binary.BigEndian.Uint32(hdr[4:])) != message.MagicCode || size <= 0 || size > l.cfg.MaxRecordSize {
		return dst, fmt.Errorf("%w: no message record at commit-log offset %d", ErrOffsetInvalid, phys)
	}
	start := len(dst)
	dst, err := l.appendRange(dst, phys, size)
	if err != nil {
		return dst, err
	}
	if _, _, err := message.CheckRecord(dst[start:], true); err != nil {
		return dst[:start], fmt.Errorf("%w: record at commit-log offset %d: %w", ErrCorrupt, phys, err)
	}
	if err := message.CheckText(dst[start:]); err != nil {
		return dst[:start], fmt.Errorf("%w: record at commit-log offset %d: %w", ErrCorrupt, phys, err)
	}
	return dst, nil
}

// storeTimestampAt reads the store timestamp of the record at phys.
func (l *commitLog) storeTimestampAt(phys int64) (int64, error) {
	var hdr [80]byte // through STORETIMESTAMP with an IPv6 born host
	if err := l.read(hdr[:64], phys); err != nil {
		return 0, err
	}
	if int32(binary.BigEndian.Uint32(hdr[4:])) != message.MagicCode {
		return 0, fmt.Errorf("%w: no message record at commit-log offset %d", ErrOffsetInvalid, phys)
	}
	r := message.Record(hdr[:])
	if r.SysFlag()&message.FlagBornHostV6 != 0 {
		if err := l.read(hdr[64:76], phys+64); err != nil {
			return 0, err
		}
	}
	return r.StoreTimestamp(), nil
}

// grow extends b by n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
