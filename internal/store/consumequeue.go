package store

import (
	"encoding/binary"
	"fmt"
	"path"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

const cqEntrySize = 20

// cqEntry is one consume-queue entry.
type cqEntry struct {
	phys     int64
	size     int32
	tagsCode int64
}

func putEntry(b []byte, e cqEntry) {
	binary.BigEndian.PutUint64(b, uint64(e.phys))
	binary.BigEndian.PutUint32(b[8:], uint32(e.size))
	binary.BigEndian.PutUint64(b[12:], uint64(e.tagsCode))
}

func getEntry(b []byte) cqEntry {
	return cqEntry{
		phys:     int64(binary.BigEndian.Uint64(b)),
		size:     int32(binary.BigEndian.Uint32(b[8:])),
		tagsCode: int64(binary.BigEndian.Uint64(b[12:])),
	}
}

// tailEntries is how many of a queue's newest entries it keeps in memory
// (20 bytes each, allocated when the queue first gets one). Consumers at
// the head of a queue copy their entries from there instead of reading
// the file, and the dispatcher writes entries to the file when half of
// them are new instead of once per round. Row 4 of the benchmark (8
// queues at 30k msgs/s) made a 20-byte pwrite per dispatch round and a
// pread per pull, about 23k system calls a second between them.
const tailEntries = 512

// consumeQueue indexes one (topic, queue id) into the commit log. The
// dispatcher is its only writer: it stages entries, commits them to the
// queue's tail in memory, then publishes maxOffset; readers read entries
// below it. The tail reaches the file when it fills, and at every
// checkpoint before the checkpoint counts it, so recovery (which
// re-dispatches from the checkpoint) never depends on an entry that was
// only in memory.
type consumeQueue struct {
	topic   string
	queueID int32
	files   *fileQueue

	minOffset atomic.Int64 // first entry whose message is still kept
	maxOffset atomic.Int64 // number of entries committed

	// The tail: entries from memStart to maxOffset, in memory; the file
	// holds every entry below memStart. The dispatcher changes both under
	// memMu; readers copy under its read lock.
	memMu    sync.RWMutex
	mem      []byte
	memStart int64

	// Owned by the dispatcher (the holder of Store.dispatchMu).
	pending []byte // staged entries, starting at maxOffset
	written int64  // entries below are in the file: memStart <= written <= maxOffset
	// Owned by the checkpointer.
	synced int64
}

func newConsumeQueue(fs vfs.FS, root, topic string, queueID int32, entriesPerFile int) *consumeQueue {
	dir := path.Join(root, "consumequeue", topic, strconv.Itoa(int(queueID)))
	return &consumeQueue{
		topic:   topic,
		queueID: queueID,
		files:   newFileQueue(fs, dir, int64(entriesPerFile)*cqEntrySize, false),
	}
}

// stage adds the entry for queue offset qo. A queue offset below the next
// one is a duplicate (already indexed) and is skipped; one above it leaves
// a hole, which only happens if data was lost, and is reported.
func (q *consumeQueue) stage(qo int64, e cqEntry) (added bool, err error) {
	next := q.maxOffset.Load() + int64(len(q.pending)/cqEntrySize)
	switch {
	case qo < next:
		return false, nil
	case qo > next:
		if next == q.minOffset.Load() && len(q.pending) == 0 {
			// An empty queue may start anywhere (its earlier files were
			// deleted by retention, or it is rebuilt from a later segment).
			if err := q.writeOut(); err != nil {
				return false, err
			}
			q.resetTail(qo)
			q.minOffset.Store(qo)
			q.maxOffset.Store(qo)
		} else {
			return false, fmt.Errorf("%w: %s queue %d: entry %d follows %d", ErrCorrupt, q.topic, q.queueID, qo, next)
		}
	}
	var b [cqEntrySize]byte
	putEntry(b[:], e)
	q.pending = append(q.pending, b[:]...)
	return true, nil
}

// commit moves the staged entries to the tail and publishes them. A tail
// without room is written out first and keeps only its newest entries
// (up to half of it, so the next write-out is half a tail away).
func (q *consumeQueue) commit() error {
	if len(q.pending) == 0 {
		return nil
	}
	max := q.maxOffset.Load()
	end := max + int64(len(q.pending)/cqEntrySize)
	if q.mem == nil {
		q.memMu.Lock()
		q.mem = make([]byte, 0, tailEntries*cqEntrySize)
		q.memMu.Unlock()
	}
	if len(q.mem)+len(q.pending) <= cap(q.mem) {
		q.memMu.Lock()
		q.mem = append(q.mem, q.pending...)
		q.memMu.Unlock()
	} else {
		if err := q.writeOut(); err != nil {
			return err
		}
		half := cap(q.mem) / 2
		keep := q.pending
		if len(keep) > half {
			// A round larger than half a tail (a backlog dispatched at
			// once) goes to the file now, and its newest entries to the tail.
			if err := q.writeFile(q.pending, max); err != nil {
				return err
			}
			q.written = end
			keep = keep[len(keep)-half:]
		}
		old := q.mem[len(q.mem)-min(len(q.mem), half-len(keep)):]
		q.memMu.Lock()
		n := copy(q.mem[:cap(q.mem)], old)
		q.mem = append(q.mem[:n], keep...)
		q.memStart = end - int64(len(q.mem)/cqEntrySize)
		q.memMu.Unlock()
	}
	q.maxOffset.Store(end)
	q.pending = q.pending[:0]
	return nil
}

// writeOut writes the entries that are only in the tail to the file.
func (q *consumeQueue) writeOut() error {
	max := q.maxOffset.Load()
	if q.written >= max {
		return nil
	}
	if err := q.writeFile(q.mem[(q.written-q.memStart)*cqEntrySize:], q.written); err != nil {
		return err
	}
	q.written = max
	return nil
}

// resetTail empties the tail, which then starts at queue offset at; every
// entry below must be in the file (or never be read again).
func (q *consumeQueue) resetTail(at int64) {
	q.memMu.Lock()
	q.mem = q.mem[:0]
	q.memStart = at
	q.memMu.Unlock()
	q.written = at
}

// writeFile writes entries b, the first of them at queue offset at,
// creating files as needed.
func (q *consumeQueue) writeFile(b []byte, at int64) error {
	pos := at * cqEntrySize
	for len(b) > 0 {
		f := q.files.find(pos)
		if f == nil {
			var err error
			if f, err = q.files.create(pos - pos%q.files.fileSize); err != nil {
				return err
			}
		}
		n := min(int64(len(b)), f.end()-pos)
		if err := f.writeAt(b[:n], pos); err != nil {
			return err
		}
		b = b[n:]
		pos += n
	}
	return nil
}

// readEntries reads up to len(dst)/20 entries starting at offset from,
// stopping at maxOffset and at the end of a file, and returns the bytes read.
func (q *consumeQueue) readEntries(dst []byte, from int64) ([]byte, error) {
	max := q.maxOffset.Load()
	if from >= max {
		return dst[:0], nil
	}
	n := min(int64(len(dst)/cqEntrySize), max-from)
	q.memMu.RLock()
	if memStart := q.memStart; from < memStart {
		n = min(n, memStart-from) // the file has every entry below memStart
	} else {
		// The tail reaches maxOffset: it was appended before max was published.
		got := copy(dst[:n*cqEntrySize], q.mem[(from-memStart)*cqEntrySize:])
		q.memMu.RUnlock()
		return dst[:got], nil
	}
	q.memMu.RUnlock()
	pos := from * cqEntrySize
	f := q.files.find(pos)
	if f == nil {
		return dst[:0], fmt.Errorf("%w: %s queue %d offset %d", ErrMessageRemoved, q.topic, q.queueID, from)
	}
	nb := min(n*cqEntrySize, f.end()-pos)
	b := dst[:nb]
	if err := f.readAt(b, pos); err != nil {
		return dst[:0], err
	}
	return b, nil
}

// entry reads the entry at queue offset idx.
func (q *consumeQueue) entry(idx int64) (cqEntry, error) {
	var b [cqEntrySize]byte
	got, err := q.readEntries(b[:], idx)
	if err != nil {
		return cqEntry{}, err
	}
	if len(got) < cqEntrySize {
		return cqEntry{}, fmt.Errorf("%w: %s queue %d has no entry %d", ErrOffsetInvalid, q.topic, q.queueID, idx)
	}
	return getEntry(got), nil
}

// truncate drops every entry from queue offset count on.
func (q *consumeQueue) truncate(count int64) error {
	if err := q.writeOut(); err != nil {
		return err
	}
	if err := q.files.truncate(count * cqEntrySize); err != nil {
		return err
	}
	q.resetTail(count)
	q.maxOffset.Store(count)
	if q.minOffset.Load() > count {
		q.minOffset.Store(count)
	}
	if q.synced > count {
		q.synced = count
	}
	return nil
}

// searchFirst returns the first queue offset in [lo, hi) for which pred is
// true, assuming pred is false then true along the queue (hi if never).
func (q *consumeQueue) searchFirst(lo, hi int64, pred func(cqEntry) (bool, error)) (int64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.entry(mid)
		if err != nil {
			return 0, err
		}
		ok, err := pred(e)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// dropExpired deletes files whose entries all point below commitLogMin
// (keeping the last file, which holds the queue's position) and moves
// minOffset to the first entry still pointing at kept data.
func (q *consumeQueue) dropExpired(commitLogMin int64) error {
	files := q.files.list()
	drop := 0
	for i := 0; i < len(files)-1; i++ {
		lastIdx := files[i].end()/cqEntrySize - 1
		e, err := q.entry(lastIdx)
		if err != nil {
			return err
		}
		if e.phys >= commitLogMin {
			break
		}
		drop++
	}
	if drop > 0 {
		if err := q.files.removeFirst(drop); err != nil {
			return err
		}
	}
	return q.resetMinOffset(commitLogMin)
}

// resetMinOffset sets minOffset to the first entry at or above commitLogMin.
func (q *consumeQueue) resetMinOffset(commitLogMin int64) error {
	lo := q.minOffset.Load()
	if first := q.files.first(); first != nil {
		lo = max(lo, first.start/cqEntrySize)
	} else {
		// No file yet: the entries are all in the tail.
		q.memMu.RLock()
		lo = max(lo, q.memStart)
		q.memMu.RUnlock()
	}
	idx, err := q.searchFirst(lo, q.maxOffset.Load(), func(e cqEntry) (bool, error) {
		return e.phys >= commitLogMin, nil
	})
	if err != nil {
		return err
	}
	q.minOffset.Store(idx)
	return nil
}

// syncTo makes entries below count durable.
func (q *consumeQueue) syncTo(count int64) error {
	from, to := q.synced*cqEntrySize, count*cqEntrySize
	if to <= from {
		return nil
	}
	for _, f := range q.files.list() {
		if f.end() <= from || f.start >= to {
			continue
		}
		if err := f.sync(max(from, f.start), to); err != nil {
			return err
		}
	}
	q.synced = count
	return nil
}

// consumeQueues is the registry of consume queues.
type consumeQueues struct {
	cfg *Config
	mu  sync.RWMutex
	// topics is keyed by topic, then queue id.
	topics map[string]map[int32]*consumeQueue
}

func newConsumeQueues(cfg *Config) *consumeQueues {
	return &consumeQueues{cfg: cfg, topics: make(map[string]map[int32]*consumeQueue)}
}

// get returns the queue or nil.
func (c *consumeQueues) get(topic string, queueID int32) *consumeQueue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.topics[topic][queueID]
}

// getOrCreate returns the queue for a topic given as bytes (from a record)
// without allocating when it exists.
func (c *consumeQueues) getOrCreate(topic []byte, queueID int32) (*consumeQueue, error) {
	c.mu.RLock()
	q := c.topics[string(topic)][queueID]
	c.mu.RUnlock()
	if q != nil {
		return q, nil
	}
	name := string(topic)
	if err := message.ValidateTopic(name); err != nil {
		return nil, fmt.Errorf("%w: record with topic %q: %w", ErrCorrupt, name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	queues := c.topics[name]
	if queues == nil {
		queues = make(map[int32]*consumeQueue)
		c.topics[name] = queues
	}
	if q = queues[queueID]; q == nil {
		q = newConsumeQueue(c.cfg.FS, c.cfg.Dir, name, queueID, c.cfg.ConsumeQueueEntries)
		queues[queueID] = q
	}
	return q, nil
}

// all returns every queue.
func (c *consumeQueues) all() []*consumeQueue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*consumeQueue
	for _, queues := range c.topics {
		for _, q := range queues {
			out = append(out, q)
		}
	}
	return out
}

// load opens the queues found on disk.
func (c *consumeQueues) load() error {
	root := path.Join(c.cfg.Dir, "consumequeue")
	if err := c.cfg.FS.MkdirAll(root); err != nil {
		return fmt.Errorf("create %s: %w", root, err)
	}
	topics, err := c.cfg.FS.List(root)
	if err != nil {
		return fmt.Errorf("list %s: %w", root, err)
	}
	for _, topic := range topics {
		if err := message.ValidateTopic(topic); err != nil {
			return fmt.Errorf("%s: unexpected entry %q", root, topic)
		}
		ids, err := c.cfg.FS.List(path.Join(root, topic))
		if err != nil {
			return fmt.Errorf("list %s: %w", path.Join(root, topic), err)
		}
		for _, id := range ids {
			n, err := strconv.ParseInt(id, 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: unexpected entry %q", path.Join(root, topic), id)
			}
			q := newConsumeQueue(c.cfg.FS, c.cfg.Dir, topic, int32(n), c.cfg.ConsumeQueueEntries)
			if err := q.files.load(); err != nil {
				return err
			}
			if f := q.files.first(); f != nil {
				q.minOffset.Store(f.start / cqEntrySize)
			}
			if c.topics[topic] == nil {
				c.topics[topic] = make(map[int32]*consumeQueue)
			}
			c.topics[topic][int32(n)] = q
		}
	}
	return nil
}

// remove unregisters a topic's queues and returns them.
func (c *consumeQueues) remove(topic string) []*consumeQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*consumeQueue
	for _, q := range c.topics[topic] {
		out = append(out, q)
	}
	delete(c.topics, topic)
	return out
}

func (c *consumeQueues) close() {
	for _, q := range c.all() {
		q.files.close()
	}
}
