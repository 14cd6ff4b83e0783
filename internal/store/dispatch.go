package store

import (
	"encoding/binary"
	"fmt"

	"github.com/petrel-mq/petrel/internal/message"
)

// dispatchChunk is how much commit log the dispatcher reads per round.
const dispatchChunk = 256 << 10

type arrival struct {
	q        *consumeQueue
	offset   int64
	tagsCode int64
	storeTs  int64
}

// dispatcher turns commit-log records into consume-queue and index
// entries. Its state is guarded by Store.dispatchMu.
type dispatcher struct {
	buf         []byte
	touched     []*consumeQueue
	arrivals    []arrival
	lastStoreTs int64 // of the last record dispatched
}

// visibleLimit is how far the dispatcher may go: everything written under
// ASYNC_FLUSH, only synced records under SYNC_FLUSH.
func (s *Store) visibleLimit() int64 {
	if s.cfg.FlushDiskType == SyncFlush {
		return s.log.flushed.Load()
	}
	return s.log.written.Load()
}

func (s *Store) runDispatcher() {
	defer s.wg.Done()
	for {
		s.dispatchMu.Lock()
		err := s.dispatchLocked(s.visibleLimit())
		s.dispatchMu.Unlock()
		if err != nil {
			s.fail(err)
			return
		}
		select {
		case <-s.dispatchKick:
		case <-s.stop:
			return
		}
	}
}

// dispatchLocked dispatches every record below limit. s.dispatchMu is held.
func (s *Store) dispatchLocked(limit int64) error {
	for {
		d := s.dispatched.Load()
		if d >= limit {
			return nil
		}
		next, err := s.dispatchRound(d, limit)
		if err != nil {
			return err
		}
		s.dispatched.Store(next)
	}
}

// dispatchRound reads one chunk from d and dispatches the whole records in
// it, returning the offset after the last one.
func (s *Store) dispatchRound(d, limit int64) (int64, error) {
	seg := s.log.files.find(d)
	if seg == nil {
		return d, fmt.Errorf("%w: dispatch at commit-log offset %d: no segment", ErrCorrupt, d)
	}
	end := min(limit, seg.end(), d+dispatchChunk)
	if end-d < message.MinBlankSize {
		return d, fmt.Errorf("%w: dispatch at commit-log offset %d: %d bytes before the limit", ErrCorrupt, d, end-d)
	}
	dp := &s.disp
	if cap(dp.buf) < int(end-d) {
		dp.buf = make([]byte, dispatchChunk)
	}
	buf := dp.buf[:end-d]
	if err := s.log.readIn(seg, buf, d); err != nil {
		return d, err
	}
	p := 0
	for len(buf)-p >= message.MinBlankSize {
		size := int(int32(binary.BigEndian.Uint32(buf[p:])))
		magic := int32(binary.BigEndian.Uint32(buf[p+4:]))
		if magic == message.BlankMagicCode {
			if err := s.commitDispatched(); err != nil {
				return d, err
			}
			return seg.end(), nil
		}
		if magic != message.MagicCode || size < message.MinBlankSize {
			return d, fmt.Errorf("%w: dispatch at commit-log offset %d: no record (size %d, magic %#x)", ErrCorrupt, d+int64(p), size, uint32(magic))
		}
		if size > len(buf)-p {
			if p == 0 {
				// A record larger than the chunk: read it whole.
				if size > s.cfg.MaxRecordSize || d+int64(size) > limit {
					return d, fmt.Errorf("%w: record of %d bytes at commit-log offset %d", ErrCorrupt, size, d)
				}
				dp.buf = make([]byte, size)
				buf = dp.buf
				if err := s.log.readIn(seg, buf, d); err != nil {
					return d, err
				}
				continue
			}
			break
		}
		if err := s.dispatchRecord(message.Record(buf[p:p+size]), d+int64(p), size); err != nil {
			return d, err
		}
		p += size
	}
	if err := s.commitDispatched(); err != nil {
		return d, err
	}
	return d + int64(p), nil
}

// dispatchRecord stages the consume-queue entry and adds the index entries
// of one record.
func (s *Store) dispatchRecord(r message.Record, phys int64, size int) error {
	topic := r.Topic()
	sysFlag := r.SysFlag()
	storeTs := r.StoreTimestamp()
	s.disp.lastStoreTs = storeTs
	var tags, keys, uniq []byte
	it := message.NewPropertyIter(r.Properties())
	for {
		name, value, ok := it.Next()
		if !ok {
			break
		}
		switch string(name) {
		case message.PropertyTags:
			tags = value
		case message.PropertyKeys:
			keys = value
		case message.PropertyUniqClientMessageID:
			uniq = value
		}
	}
	dp := &s.disp
	if consumesQueueOffset(sysFlag) {
		q, err := s.cqs.getOrCreate(topic, r.QueueID())
		if err != nil {
			return err
		}
		var tagsCode int64
		if len(tags) > 0 {
			tagsCode = message.TagsHashCode(tags)
		}
		if hook := s.cfg.TagsCode; hook != nil {
			if c, ok := hook(topic, r.QueueID(), r.Properties(), storeTs); ok {
				tagsCode = c
			}
		}
		if len(q.pending) == 0 {
			dp.touched = append(dp.touched, q)
		}
		qo := r.QueueOffset()
		added, err := q.stage(qo, cqEntry{phys: phys, size: int32(size), tagsCode: tagsCode})
		if err != nil {
			return err
		}
		if added {
			dp.arrivals = append(dp.arrivals, arrival{q: q, offset: qo, tagsCode: tagsCode, storeTs: storeTs})
		}
	}
	if message.TransactionType(sysFlag) == message.TransactionRollbackType {
		return nil
	}
	if err := s.index.put(topic, uniq, phys, storeTs); err != nil {
		return err
	}
	for len(keys) > 0 {
		var k []byte
		if i := indexByte(keys, ' '); i >= 0 {
			k, keys = keys[:i], keys[i+1:]
		} else {
			k, keys = keys, nil
		}
		if err := s.index.put(topic, k, phys, storeTs); err != nil {
			return err
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// commitDispatched writes the staged consume-queue entries, then tells the
// listener about each new message.
func (s *Store) commitDispatched() error {
	dp := &s.disp
	for i, q := range dp.touched {
		if err := q.commit(); err != nil {
			return err
		}
		dp.touched[i] = nil
	}
	dp.touched = dp.touched[:0]
	if l := s.cfg.Arrival; l != nil {
		for _, a := range dp.arrivals {
			l.Arrived(a.q.topic, a.q.queueID, a.offset, a.tagsCode, a.storeTs)
		}
	}
	clear(dp.arrivals)
	dp.arrivals = dp.arrivals[:0]
	return nil
}
