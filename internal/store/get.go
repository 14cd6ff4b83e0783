package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/petrel-mq/petrel/internal/message"
)

// GetStatus is the outcome of GetMessages (RocketMQ's GetMessageStatus).
type GetStatus int

// Outcomes of GetMessages; see the spec's pull table.
const (
	Found GetStatus = iota
	NoMatchedMessage
	MessageWasRemoving
	OffsetFoundNull
	OffsetOverflowBadly
	OffsetOverflowOne
	OffsetTooSmall
	NoMatchedLogicQueue
	NoMessageInQueue
)

var getStatusNames = [...]string{"FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_FOUND_NULL",
	"OFFSET_OVERFLOW_BADLY", "OFFSET_OVERFLOW_ONE", "OFFSET_TOO_SMALL", "NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE"}

func (s GetStatus) String() string { return getStatusNames[s] }

// MessageFilter decides from the consume-queue tags code whether a message
// is wanted. A nil filter wants everything.
type MessageFilter interface {
	MatchTagsCode(tagsCode int64) bool
}

// GetResult is what GetMessages found.
type GetResult struct {
	Status          GetStatus
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
	// Count messages, as whole stored records, were appended to Buffer.
	Count  int
	Buffer []byte
}

// minScanEntries is how many entries one call may examine at least, so a
// sparse tag filter still makes progress.
const minScanEntries = 800

// entriesPool holds GetMessages' consume-queue read buffers: passed to a
// vfs.File, a local array would escape and cost an allocation per call.
var entriesPool = sync.Pool{New: func() any { return new([64 * cqEntrySize]byte) }}

// GetMessages reads messages of (topic, queueID) from queue offset offset:
// at most maxCount messages and, after the first, at most maxBytes bytes,
// skipping those filter rejects. The records are appended to dst.
func (s *Store) GetMessages(topic string, queueID int32, offset int64, maxCount, maxBytes int, filter MessageFilter, dst []byte) GetResult {
	res := GetResult{Buffer: dst}
	q := s.cqs.get(topic, queueID)
	if q == nil {
		res.Status = NoMatchedLogicQueue
		return res
	}
	min, max := q.minOffset.Load(), q.maxOffset.Load()
	res.MinOffset, res.MaxOffset = min, max
	switch {
	case max == 0:
		res.Status = NoMessageInQueue
		return res
	case offset < min:
		res.Status, res.NextBeginOffset = OffsetTooSmall, min
		return res
	case offset == max:
		res.Status, res.NextBeginOffset = OffsetOverflowOne, offset
		return res
	case offset > max:
		res.Status, res.NextBeginOffset = OffsetOverflowBadly, max
		return res
	}
	limit := int64(maxCount)
	if limit < minScanEntries {
		limit = minScanEntries
	}
	entries := entriesPool.Get().(*[64 * cqEntrySize]byte)
	defer entriesPool.Put(entries)
	next, bytes, removed := offset, 0, false
scan:
	for next < max && next-offset < limit && res.Count < maxCount {
		b, err := q.readEntries(entries[:], next)
		if err != nil || len(b) == 0 {
			break
		}
		if res.Count == 0 {
			res.Buffer = slices.Grow(res.Buffer, wanted(b, filter, maxCount, maxBytes))
		}
		for ; len(b) >= cqEntrySize; b = b[cqEntrySize:] {
			if next-offset >= limit || res.Count >= maxCount {
				break scan
			}
			e := getEntry(b)
			if filter != nil && !filter.MatchTagsCode(e.tagsCode) {
				next++
				continue
			}
			if res.Count > 0 && bytes+int(e.size) > maxBytes {
				break scan
			}
			buf, err := s.log.appendRange(res.Buffer, e.phys, int(e.size))
			if err != nil {
				if errors.Is(err, ErrMessageRemoved) {
					removed = true
					next++
					continue
				}
				break scan
			}
			res.Buffer = buf
			res.Count++
			bytes += int(e.size)
			next++
		}
	}
	res.NextBeginOffset = next
	switch {
	case res.Count > 0:
		res.Status = Found
	case removed:
		res.Status = MessageWasRemoving
	case next == offset:
		res.Status = OffsetFoundNull
	default:
		res.Status = NoMatchedMessage
	}
	return res
}

// MaxOffset is the next queue offset to be written (0 for an unknown queue).
func (s *Store) MaxOffset(topic string, queueID int32) int64 {
	if q := s.cqs.get(topic, queueID); q != nil {
		return q.maxOffset.Load()
	}
	return 0
}

// MinOffset is the smallest queue offset still readable (0 for an unknown queue).
func (s *Store) MinOffset(topic string, queueID int32) int64 {
	if q := s.cqs.get(topic, queueID); q != nil {
		return q.minOffset.Load()
	}
	return 0
}

// OffsetByTime returns the queue offset of the first message stored at or
// after timestamp (ms): the queue's max offset if none is, its min offset
// if all are. RocketMQ 4.9 returns whichever neighbour is closer in time,
// which can rewind before the timestamp or skip past it; this is RocketMQ
// 5's lower-bound behaviour.
func (s *Store) OffsetByTime(topic string, queueID int32, timestamp int64) (int64, error) {
	q := s.cqs.get(topic, queueID)
	if q == nil {
		return 0, nil
	}
	min, max := q.minOffset.Load(), q.maxOffset.Load()
	return q.searchFirst(min, max, func(e cqEntry) (bool, error) {
		ts, err := s.log.storeTimestampAt(e.phys)
		if errors.Is(err, ErrMessageRemoved) {
			return false, nil
		}
		return ts >= timestamp, err
	})
}

// EarliestStoreTime is the store timestamp of the queue's oldest readable
// message, or -1 if it has none.
func (s *Store) EarliestStoreTime(topic string, queueID int32) (int64, error) {
	q := s.cqs.get(topic, queueID)
	if q == nil {
		return -1, nil
	}
	min := q.minOffset.Load()
	if min >= q.maxOffset.Load() {
		return -1, nil
	}
	e, err := q.entry(min)
	if err != nil {
		return -1, err
	}
	return s.log.storeTimestampAt(e.phys)
}

// StoreTimeAt is the store timestamp of the message at a queue offset.
func (s *Store) StoreTimeAt(topic string, queueID int32, offset int64) (int64, error) {
	q := s.cqs.get(topic, queueID)
	if q == nil {
		return 0, fmt.Errorf("%w: no queue %s/%d", ErrOffsetInvalid, topic, queueID)
	}
	e, err := q.entry(offset)
	if err != nil {
		return 0, err
	}
	return s.log.storeTimestampAt(e.phys)
}

// QueueEntry is one consume-queue entry: where the message is and its tag
// code (for scheduled messages, their due time).
type QueueEntry struct {
	QueueOffset int64
	PhysOffset  int64
	Size        int32
	TagsCode    int64
}

// QueueEntries appends up to n entries of (topic, queueID) from queue
// offset from, without reading the messages.
func (s *Store) QueueEntries(topic string, queueID int32, from int64, n int, dst []QueueEntry) ([]QueueEntry, error) {
	q := s.cqs.get(topic, queueID)
	if q == nil || n <= 0 {
		return dst, nil
	}
	var buf [64 * cqEntrySize]byte
	for n > 0 && from < q.maxOffset.Load() {
		b, err := q.readEntries(buf[:min(n, 64)*cqEntrySize], from)
		if err != nil {
			return dst, err
		}
		if len(b) == 0 {
			break
		}
		for ; len(b) >= cqEntrySize; b = b[cqEntrySize:] {
			e := getEntry(b)
			dst = append(dst, QueueEntry{QueueOffset: from, PhysOffset: e.phys, Size: e.size, TagsCode: e.tagsCode})
			from++
			n--
		}
	}
	return dst, nil
}

// PhysOffsetAt is the commit-log offset of the message at a queue offset.
func (s *Store) PhysOffsetAt(topic string, queueID int32, offset int64) (int64, error) {
	q := s.cqs.get(topic, queueID)
	if q == nil {
		return 0, fmt.Errorf("%w: no queue %s/%d", ErrOffsetInvalid, topic, queueID)
	}
	e, err := q.entry(offset)
	if err != nil {
		return 0, err
	}
	return e.phys, nil
}

// ReadMessage appends the whole stored record at a commit-log offset to dst
// (VIEW_MESSAGE_BY_ID, send-back, transactions). Its CRC is checked.
func (s *Store) ReadMessage(physOffset int64, dst []byte) ([]byte, error) {
	return s.log.appendRecord(dst, physOffset)
}

// QueryResult is what QueryMessages found.
type QueryResult struct {
	// Count records, appended to Buffer, newest first.
	Count  int
	Buffer []byte
	// IndexLastUpdateTimestamp and IndexLastUpdatePhyOffset describe how far
	// the index reaches (QUERY_MESSAGE response header).
	IndexLastUpdateTimestamp int64
	IndexLastUpdatePhyOffset int64
}

// QueryMessages finds messages of topic whose KEYS contain key or whose
// UNIQ_KEY is key, stored within [begin, end] (ms), at most max.
func (s *Store) QueryMessages(topic, key string, max int, begin, end int64, dst []byte) (QueryResult, error) {
	res := QueryResult{Buffer: dst, IndexLastUpdatePhyOffset: s.dispatched.Load(), IndexLastUpdateTimestamp: s.lastDispatchedTs()}
	if max <= 0 || key == "" {
		return res, nil
	}
	tb, kb := []byte(topic), []byte(key)
	// Hash collisions are filtered below, so ask the index for extra.
	for _, phys := range s.index.lookup(tb, kb, 4*max, begin, end) {
		if res.Count >= max {
			break
		}
		start := len(res.Buffer)
		buf, err := s.log.appendRecord(res.Buffer, phys)
		if err != nil {
			continue // removed by retention since it was indexed
		}
		r := message.Record(buf[start:])
		if string(r.Topic()) == topic && r.StoreTimestamp() >= begin && r.StoreTimestamp() <= end && hasKey(r.Properties(), key) {
			res.Buffer = buf
			res.Count++
		}
	}
	return res, nil
}

func hasKey(props []byte, key string) bool {
	it := message.NewPropertyIter(props)
	for {
		name, value, ok := it.Next()
		if !ok {
			return false
		}
		switch string(name) {
		case message.PropertyUniqClientMessageID:
			if string(value) == key {
				return true
			}
		case message.PropertyKeys:
			found := false
			message.RangeKeys(value, func(k []byte) {
				if string(k) == key {
					found = true
				}
			})
			if found {
				return true
			}
		}
	}
}

func (s *Store) lastDispatchedTs() int64 {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	return s.disp.lastStoreTs
}

// Stats describes the store's extent.
type Stats struct {
	CommitLogMinOffset int64
	CommitLogMaxOffset int64 // written
	FlushedOffset      int64
	DispatchedOffset   int64
}

// Stats returns the store's current extent.
func (s *Store) Stats() Stats {
	return Stats{
		CommitLogMinOffset: s.log.files.minOffset(),
		CommitLogMaxOffset: s.log.written.Load(),
		FlushedOffset:      s.log.flushed.Load(),
		DispatchedOffset:   s.dispatched.Load(),
	}
}

// wanted estimates the bytes of the records the entries in b will add to
// a GetMessages buffer, so it is allocated once instead of doubling
// through a pull's 32 records (that growth was 6% of a backlog drain).
func wanted(b []byte, filter MessageFilter, maxCount, maxBytes int) int {
	total, n := 0, 0
	for ; len(b) >= cqEntrySize && n < maxCount; b = b[cqEntrySize:] {
		e := getEntry(b)
		if filter != nil && !filter.MatchTagsCode(e.tagsCode) {
			continue
		}
		if n > 0 && total+int(e.size) > maxBytes {
			break
		}
		total += int(e.size)
		n++
	}
	return total
}
