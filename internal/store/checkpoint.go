package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"sort"
)

// The checkpoint file (big-endian), replaced atomically (write a temporary
// file, sync, rename, sync the directory):
//
//	magic "PTCK" | version uint32 (1) | flags uint32 (bit 0: clean close)
//	flushed int64      commit-log offset below which everything is synced
//	dispatched int64   commit-log offset below which consume-queue and index entries are synced
//	indexActive int64  start of the index file being written (-1: none)
//	indexCount int32   entries of that file at dispatched
//	queueCount uint32, then per queue:
//	    topicLength uint8 | topic | queueId int32 | entryCount int64
//	crc uint32         CRC-32 (IEEE) of everything before it
const (
	checkpointMagic   = 0x5054434B // "PTCK"
	checkpointVersion = 1
	checkpointFile    = "checkpoint"
)

type checkpoint struct {
	clean       bool
	flushed     int64
	dispatched  int64
	indexActive int64
	indexCount  int
	queues      map[queueKey]int64
}

func (c *checkpoint) encode() []byte {
	b := make([]byte, 0, 64+len(c.queues)*32)
	be := binary.BigEndian
	b = be.AppendUint32(b, checkpointMagic)
	b = be.AppendUint32(b, checkpointVersion)
	var flags uint32
	if c.clean {
		flags |= 1
	}
	b = be.AppendUint32(b, flags)
	b = be.AppendUint64(b, uint64(c.flushed))
	b = be.AppendUint64(b, uint64(c.dispatched))
	b = be.AppendUint64(b, uint64(c.indexActive))
	b = be.AppendUint32(b, uint32(c.indexCount))
	keys := make([]queueKey, 0, len(c.queues))
	for k := range c.queues {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].id < keys[j].id
	})
	b = be.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = append(b, byte(len(k.topic)))
		b = append(b, k.topic...)
		b = be.AppendUint32(b, uint32(k.id))
		b = be.AppendUint64(b, uint64(c.queues[k]))
	}
	return be.AppendUint32(b, crc32.ChecksumIEEE(b))
}

var errCheckpoint = errors.New("checkpoint unreadable")

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	be := binary.BigEndian
	if len(b) < 44 {
		return nil, fmt.Errorf("%w: %d bytes", errCheckpoint, len(b))
	}
	body, sum := b[:len(b)-4], be.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: CRC mismatch", errCheckpoint)
	}
	if be.Uint32(b) != checkpointMagic || be.Uint32(b[4:]) != checkpointVersion {
		return nil, fmt.Errorf("%w: bad magic or version", errCheckpoint)
	}
	c := &checkpoint{
		clean:       be.Uint32(b[8:])&1 != 0,
		flushed:     int64(be.Uint64(b[12:])),
		dispatched:  int64(be.Uint64(b[20:])),
		indexActive: int64(be.Uint64(b[28:])),
		indexCount:  int(int32(be.Uint32(b[36:]))),
		queues:      make(map[queueKey]int64),
	}
	n := int(be.Uint32(b[40:]))
	p := body[44:]
	for i := 0; i < n; i++ {
		if len(p) < 1 || len(p) < 1+int(p[0])+12 {
			return nil, fmt.Errorf("%w: queue %d truncated", errCheckpoint, i)
		}
		tl := int(p[0])
		k := queueKey{topic: string(p[1 : 1+tl]), id: int32(be.Uint32(p[1+tl:]))}
		c.queues[k] = int64(be.Uint64(p[5+tl:]))
		p = p[13+tl:]
	}
	if len(p) != 0 || c.flushed < 0 || c.dispatched < 0 || c.dispatched > c.flushed || c.indexCount < 0 {
		return nil, fmt.Errorf("%w: inconsistent fields", errCheckpoint)
	}
	return c, nil
}

// readCheckpoint returns nil without error when there is no checkpoint.
func (s *Store) readCheckpoint() (*checkpoint, error) {
	p := path.Join(s.cfg.Dir, checkpointFile)
	f, err := s.cfg.FS.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", p, err)
	}
	if size > 64<<20 {
		return nil, fmt.Errorf("%w: %s is %d bytes", errCheckpoint, p, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return decodeCheckpoint(b)
}

// writeCheckpoint replaces the checkpoint file atomically.
func (s *Store) writeCheckpoint(enc []byte) error {
	dir := s.cfg.Dir
	tmp := path.Join(dir, checkpointFile+".tmp")
	f, err := s.cfg.FS.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.WriteAt(enc, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := s.cfg.FS.Rename(tmp, path.Join(dir, checkpointFile)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := s.cfg.FS.SyncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// takeCheckpoint writes out the consume queues' tails, syncs consume
// queues and the index up to the dispatched offset and records that
// state. Under SYNC_FLUSH the dispatched offset is already synced in the
// commit log; under ASYNC_FLUSH the commit log is synced to it first, so a
// checkpoint never vouches for entries that point at commit-log bytes a
// power loss could take.
func (s *Store) takeCheckpoint(clean bool) error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.dispatchMu.Lock()
	d := s.dispatched.Load()
	queues := s.cqs.all()
	counts := make(map[queueKey]int64, len(queues))
	for _, q := range queues {
		if err := q.writeOut(); err != nil {
			s.dispatchMu.Unlock()
			return err
		}
		counts[queueKey{q.topic, q.queueID}] = q.maxOffset.Load()
	}
	active, count := s.index.snapshot()
	s.dispatchMu.Unlock()

	if err := s.log.flushTo(d); err != nil {
		s.fail(err)
		return err
	}
	for _, q := range queues {
		if err := q.syncTo(counts[queueKey{q.topic, q.queueID}]); err != nil {
			return err
		}
	}
	if err := s.index.syncTo(active, count); err != nil {
		return err
	}
	if clean {
		// Nothing is dispatched any more: the slot tables can be made
		// durable too, so the next open need not rebuild them.
		if err := s.index.syncAll(); err != nil {
			return err
		}
	}
	s.lastCkD.Store(d)
	enc := (&checkpoint{
		clean:       clean,
		flushed:     s.log.flushed.Load(),
		dispatched:  d,
		indexActive: active,
		indexCount:  count,
		queues:      counts,
	}).encode()
	// An idle broker's checkpoint says the same thing every second; the
	// file already says it, so writing it again would only cost a sync of
	// the file and one of the directory each interval, forever.
	if bytes.Equal(enc, s.lastCkWritten) {
		return nil
	}
	if err := s.writeCheckpoint(enc); err != nil {
		return err
	}
	s.lastCkWritten = enc
	return nil
}
