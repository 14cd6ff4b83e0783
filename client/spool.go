package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool is the producer's degraded mode (ProducerConfig.Spool): sends
// that found no name server or broker answering are appended to a
// directory of segment files and resent, in order, by a drainer.
//
// Directory layout:
//
//	LOCK                  flock(2)ed while a producer has the spool open
//	POSITION              the next record to deliver, replaced by rename
//	0000000000000001.seg  segments, oldest first; only the last grows
//	0000000000000002.seg
//
// A segment is a sequence of records:
//
//	+----------------+----------------+---------------------------+
//	| length (4, BE) | CRC-32C (4, BE)| payload (length bytes)    |
//	+----------------+----------------+---------------------------+
//
// The CRC covers the payload, a JSON array of the messages of one send
// with their ids (Message.ID) set. POSITION is segment number (8, BE),
// offset in it (8, BE) and a CRC-32C of those 16 bytes.
//
// Every append is fsynced before the send reports SendSpooled, so a crash
// can only tear the last record of the last segment, one whose send never
// returned: opening the spool cuts such a tail and logs how many bytes it
// cut. A bad record anywhere else is corruption and opening fails with
// ErrSpoolCorrupt rather than skip messages silently.
//
// Delivery is at least once: POSITION moves after the broker stored a
// record, so a crash in between resends it, under the same UNIQ_KEY.

// Spool errors.
var (
	// ErrSpoolFull: the spool holds MaxBytes; the message was not sent and
	// not spooled.
	ErrSpoolFull = errors.New("petrel client: spool full")
	// ErrSpoolCorrupt: a spool file is damaged somewhere a crash cannot
	// explain; the spool refuses to open rather than skip messages.
	ErrSpoolCorrupt = errors.New("petrel client: spool corrupt")
	// ErrSpoolLocked: another producer (maybe another process) has the
	// spool directory open.
	ErrSpoolLocked = errors.New("petrel client: spool directory in use")
)

const (
	spoolRecordHeader = 8
	spoolPositionFile = "POSITION"
	spoolLockFile     = "LOCK"
	spoolSegmentExt   = ".seg"
	// spoolMaxRecord bounds a record's length so a damaged length field is
	// not taken for a huge allocation.
	spoolMaxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spoolPos addresses a record: segment number and byte offset in it.
type spoolPos struct {
	seg uint64
	off int64
}

// spoolSegment is a live segment file.
type spoolSegment struct {
	seq  uint64
	size int64
}

// diskSpool is the spool's storage. Its methods are safe for concurrent
// use: appends come from Send callers, reads and acks from the drainer.
type diskSpool struct {
	dir      string
	maxBytes int64
	segSize  int64
	log      *slog.Logger
	lock     *os.File

	mu struct {
		sync.Mutex
		segs    []spoolSegment // oldest first; the last is tail
		tail    *os.File       // the last segment, opened for appending
		head    spoolPos       // next record to deliver
		reader  *os.File       // head segment, for reading
		readSeq uint64
		bytes   int64 // sum of segs' sizes
		records int   // records from head on
		closed  bool
	}
}

// openSpool opens (creating if needed) the spool in dir, cuts a torn tail
// and counts the records not yet delivered.
func openSpool(dir string, maxBytes int64, log *slog.Logger) (_ *diskSpool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("petrel client: spool: %w", err)
	}
	s := &diskSpool{dir: dir, maxBytes: maxBytes, log: log}
	// Segments small enough that a delivered one is freed soon, large
	// enough that rolling (a create and a directory sync) is rare.
	s.segSize = min(max(maxBytes/8, 64<<10), 64<<20)
	if s.lock, err = lockSpoolDir(filepath.Join(dir, spoolLockFile)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	head, found, err := s.readPosition()
	if err != nil {
		return nil, err
	}
	segs, err := s.listSegments()
	if err != nil {
		return nil, err
	}
	if !found {
		head = spoolPos{seg: 1}
		if len(segs) > 0 {
			head.seg = segs[0].seq
		}
	}
	// Segments before the head were delivered; a crash left them behind.
	for len(segs) > 0 && segs[0].seq < head.seg {
		if err := os.Remove(s.segPath(segs[0].seq)); err != nil {
			return nil, fmt.Errorf("petrel client: spool: %w", err)
		}
		segs = segs[1:]
	}
	if len(segs) == 0 {
		if head.off != 0 {
			return nil, fmt.Errorf("%w: %s points into segment %d, which is missing", ErrSpoolCorrupt, spoolPositionFile, head.seg)
		}
		segs = []spoolSegment{{seq: head.seg}}
		if err := s.createSegment(head.seg); err != nil {
			return nil, err
		}
	}
	if segs[0].seq != head.seg {
		return nil, fmt.Errorf("%w: %s points to segment %d, which is missing", ErrSpoolCorrupt, spoolPositionFile, head.seg)
	}
	for i := range segs {
		from := int64(0)
		if i == 0 {
			from = head.off
		}
		n, err := s.scanSegment(&segs[i], from, i == len(segs)-1)
		if err != nil {
			return nil, err
		}
		s.mu.records += n
	}
	s.mu.segs = segs
	s.mu.head = head
	for _, sg := range segs {
		s.mu.bytes += sg.size
	}
	tail := segs[len(segs)-1]
	if s.mu.tail, err = os.OpenFile(s.segPath(tail.seq), os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("petrel client: spool: %w", err)
	}
	return s, nil
}

// scanSegment validates the records of sg from offset from and returns
// how many there are. A bad record in the last segment is a torn tail,
// cut here; elsewhere it is corruption.
func (s *diskSpool) scanSegment(sg *spoolSegment, from int64, last bool) (int, error) {
	path := s.segPath(sg.seq)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("petrel client: spool: %w", err)
	}
	if from > int64(len(data)) {
		return 0, fmt.Errorf("%w: %s points to offset %d of %s, which has %d bytes", ErrSpoolCorrupt, spoolPositionFile, from, path, len(data))
	}
	n := 0
	off := from
	for off < int64(len(data)) {
		size, err := checkRecord(data[off:])
		if err != nil {
			if !last {
				return 0, fmt.Errorf("%w: %s at offset %d: %w", ErrSpoolCorrupt, path, off, err)
			}
			s.log.Warn("petrel client: spool: cutting a torn tail (a record whose send never returned)",
				"file", path, "offset", off, "bytes", int64(len(data))-off, "reason", err)
			if err := cutFile(path, off); err != nil {
				return 0, err
			}
			break
		}
		off += size
		n++
	}
	sg.size = off
	return n, nil
}

// checkRecord validates the record at the start of b and returns its size.
func checkRecord(b []byte) (int64, error) {
	if len(b) < spoolRecordHeader {
		return 0, fmt.Errorf("%d bytes left, less than a record header", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > spoolMaxRecord || int64(n) > int64(len(b)-spoolRecordHeader) {
		return 0, fmt.Errorf("record length %d does not fit the %d bytes left", n, len(b)-spoolRecordHeader)
	}
	payload := b[spoolRecordHeader : spoolRecordHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, errors.New("CRC mismatch")
	}
	return spoolRecordHeader + int64(n), nil
}

func cutFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("petrel client: spool: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("petrel client: spool: cut %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("petrel client: spool: cut %s: %w", path, err)
	}
	return nil
}

// append writes one record and syncs it. It refuses with ErrSpoolFull
// when the spool would grow past maxBytes.
func (s *diskSpool) append(payload []byte) error {
	size := int64(spoolRecordHeader + len(payload))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if s.mu.bytes+size > s.maxBytes {
		return fmt.Errorf("%w: %d bytes held, %d more do not fit in %d (%d messages wait for the cluster)",
			ErrSpoolFull, s.mu.bytes, size, s.maxBytes, s.mu.records)
	}
	tail := &s.mu.segs[len(s.mu.segs)-1]
	if tail.size > 0 && tail.size+size > s.segSize {
		if err := s.rollLocked(); err != nil {
			return err
		}
		tail = &s.mu.segs[len(s.mu.segs)-1]
	}
	rec := make([]byte, spoolRecordHeader, size)
	binary.BigEndian.PutUint32(rec, uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(payload, castagnoli))
	rec = append(rec, payload...)
	if _, err := s.mu.tail.Write(rec); err != nil {
		return s.undoLocked(tail, fmt.Errorf("petrel client: spool: append: %w", err))
	}
	if err := s.mu.tail.Sync(); err != nil {
		return s.undoLocked(tail, fmt.Errorf("petrel client: spool: sync: %w", err))
	}
	tail.size += size
	s.mu.bytes += size
	s.mu.records++
	return nil
}

// undoLocked cuts a failed append off the tail so a later append does not
// follow a partial record; err is returned either way.
func (s *diskSpool) undoLocked(tail *spoolSegment, err error) error {
	if terr := s.mu.tail.Truncate(tail.size); terr != nil {
		s.log.Error("petrel client: spool: cannot cut a failed append; the next open will", "err", terr)
	}
	return err
}

// rollLocked starts a new tail segment.
func (s *diskSpool) rollLocked() error {
	seq := s.mu.segs[len(s.mu.segs)-1].seq + 1
	if err := s.createSegment(seq); err != nil {
		return err
	}
	f, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("petrel client: spool: %w", err)
	}
	s.mu.tail.Close()
	s.mu.tail = f
	s.mu.segs = append(s.mu.segs, spoolSegment{seq: seq})
	return nil
}

// peek returns the payload of the next record to deliver, or nil when
// there is none.
func (s *diskSpool) peek() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || s.mu.records == 0 {
		return nil, nil
	}
	head := s.mu.head
	if s.mu.reader == nil || s.mu.readSeq != head.seg {
		if s.mu.reader != nil {
			s.mu.reader.Close()
		}
		f, err := os.Open(s.segPath(head.seg))
		if err != nil {
			return nil, fmt.Errorf("petrel client: spool: %w", err)
		}
		s.mu.reader, s.mu.readSeq = f, head.seg
	}
	var hdr [spoolRecordHeader]byte
	if _, err := s.mu.reader.ReadAt(hdr[:], head.off); err != nil {
		return nil, fmt.Errorf("petrel client: spool: read segment %d at %d: %w", head.seg, head.off, err)
	}
	rec := make([]byte, spoolRecordHeader+int(binary.BigEndian.Uint32(hdr[:])))
	if _, err := s.mu.reader.ReadAt(rec, head.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("petrel client: spool: read segment %d at %d: %w", head.seg, head.off, err)
	}
	if _, err := checkRecord(rec); err != nil {
		// Validated at open and written by us since: the disk changed it.
		return nil, fmt.Errorf("%w: segment %d at offset %d: %w", ErrSpoolCorrupt, head.seg, head.off, err)
	}
	return rec[spoolRecordHeader:], nil
}

// ack records that the record peek returned was delivered (or given up on
// and reported): the head moves past it, and a segment left behind is
// deleted.
func (s *diskSpool) ack(payloadLen int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	head := s.mu.head
	head.off += int64(spoolRecordHeader + payloadLen)
	s.mu.records--
	first := s.mu.segs[0]
	if head.off < first.size {
		s.mu.head = head
		return s.writePosition(head)
	}
	// The head segment is delivered. Move to the next one, starting a new
	// tail first if it was the tail, so the spool shrinks back to nothing.
	if len(s.mu.segs) == 1 {
		if err := s.rollLocked(); err != nil {
			return err
		}
	}
	next := spoolPos{seg: s.mu.segs[1].seq}
	if err := s.writePosition(next); err != nil {
		return err
	}
	s.mu.head = next
	s.mu.segs = s.mu.segs[1:]
	s.mu.bytes -= first.size
	if s.mu.reader != nil {
		s.mu.reader.Close()
		s.mu.reader = nil
	}
	if err := os.Remove(s.segPath(first.seq)); err != nil {
		s.log.Warn("petrel client: spool: cannot remove a delivered segment; the next open will", "err", err)
	}
	return nil
}

// stats returns how many records wait and how many bytes the spool holds.
func (s *diskSpool) stats() (records int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.records, s.mu.bytes
}

func (s *diskSpool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	for _, f := range []*os.File{s.mu.tail, s.mu.reader, s.lock} {
		if f != nil {
			f.Close()
		}
	}
	s.mu.tail, s.mu.reader, s.lock = nil, nil, nil
}

func (s *diskSpool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d%s", seq, spoolSegmentExt))
}

func (s *diskSpool) listSegments() ([]spoolSegment, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("petrel client: spool: %w", err)
	}
	var segs []spoolSegment
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), spoolSegmentExt)
		if !ok || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, spoolSegment{seq: seq})
	}
	slices.SortFunc(segs, func(a, b spoolSegment) int { return int(a.seq - b.seq) })
	return segs, nil
}

// createSegment creates an empty segment and syncs the directory, so the
// file exists before POSITION can name it.
func (s *diskSpool) createSegment(seq uint64) error {
	f, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("petrel client: spool: %w", err)
	}
	f.Close()
	return syncDir(s.dir)
}

func (s *diskSpool) readPosition() (spoolPos, bool, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, spoolPositionFile))
	if errors.Is(err, os.ErrNotExist) {
		return spoolPos{}, false, nil
	}
	if err != nil {
		return spoolPos{}, false, fmt.Errorf("petrel client: spool: %w", err)
	}
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		// Written by rename, so never torn: something else damaged it.
		return spoolPos{}, false, fmt.Errorf("%w: %s is damaged", ErrSpoolCorrupt, spoolPositionFile)
	}
	return spoolPos{seg: binary.BigEndian.Uint64(b), off: int64(binary.BigEndian.Uint64(b[8:]))}, true, nil
}

// writePosition replaces POSITION atomically: write a temporary file,
// sync it, rename it over, sync the directory.
func (s *diskSpool) writePosition(p spoolPos) error {
	var b [20]byte
	binary.BigEndian.PutUint64(b[:], p.seg)
	binary.BigEndian.PutUint64(b[8:], uint64(p.off))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	path := filepath.Join(s.dir, spoolPositionFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("petrel client: spool: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("petrel client: spool: write %s: %w", spoolPositionFile, err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("petrel client: spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("petrel client: spool: sync %s: %w", dir, err)
	}
	return nil
}
