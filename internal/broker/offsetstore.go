package broker

import (
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// offsetStore holds clustering consumers' committed offsets (the next
// queue offset to consume), keyed "topic@group" then queue id, persisted
// in config/consumerOffset.json every flushConsumerOffsetInterval and at
// shutdown (RocketMQ's ConsumerOffsetManager).
type offsetStore struct {
	file    jsonFile
	flushMu sync.Mutex // one save at a time, so an older table never wins

	mu     sync.Mutex
	table  map[string]map[int32]int64
	resets map[string]offsetReset // by offsetKey, while clients apply a reset
	dirty  bool
}

// offsetReset is an admin reset being applied by a group's clients: until
// the deadline, commits above the reset offsets are the clients' stale
// ones and are ignored.
type offsetReset struct {
	offsets map[int32]int64
	until   time.Time
}

// resetWindow covers the Go client's way of applying a reset: it drops
// its queues, keeps committing its old offsets for 10 s, then commits the
// new ones.
const resetWindow = 15 * time.Second

type offsetFile struct {
	OffsetTable map[string]map[string]int64 `json:"offsetTable"`
}

func newOffsetStore(fs vfs.FS, dir string) *offsetStore {
	return &offsetStore{file: jsonFile{fs: fs, path: path.Join(dir, "consumerOffset.json")}, table: make(map[string]map[int32]int64)}
}

func offsetKey(topic, group string) string { return topic + "@" + group }

func (o *offsetStore) load() error {
	var f offsetFile
	if _, err := o.file.load(&f); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, queues := range f.OffsetTable {
		m := make(map[int32]int64, len(queues))
		for q, off := range queues {
			id, err := strconv.ParseInt(q, 10, 32)
			if err != nil {
				continue
			}
			m[int32(id)] = off
		}
		o.table[k] = m
	}
	return nil
}

// commit records a client's offset for (topic, group, queue). An offset
// never moves backwards through a commit: a lower one comes from a client
// that lost the queue in a rebalance and committed late, and would make
// the group consume again what it has consumed. The exception is a stored
// offset past the queue's end (maxOffset; the queue lost data or was
// re-created), which the client's lower offset corrects. While a reset is
// being applied, commits above it are stale and ignored.
func (o *offsetStore) commit(topic, group string, queueID int32, offset, maxOffset int64, now time.Time) {
	k := offsetKey(topic, group)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.resets[k]; ok {
		if now.After(r.until) {
			delete(o.resets, k)
		} else if target, ok := r.offsets[queueID]; ok && offset > target {
			return
		}
	}
	m := o.table[k]
	if m == nil {
		m = make(map[int32]int64)
		o.table[k] = m
	}
	old, had := m[queueID]
	if had && offset < old && old <= maxOffset {
		if _, resetting := o.resets[k]; !resetting {
			return
		}
	}
	if !had || old != offset {
		m[queueID] = offset
		o.dirty = true
	}
}

// reset sets a group's offsets on a topic (an admin reset) and ignores
// stale commits above them for resetWindow.
func (o *offsetStore) reset(topic, group string, offsets map[int32]int64, now time.Time) {
	k := offsetKey(topic, group)
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.table[k]
	if m == nil {
		m = make(map[int32]int64)
		o.table[k] = m
	}
	for q, off := range offsets {
		m[q] = off
	}
	if o.resets == nil {
		o.resets = make(map[string]offsetReset)
	}
	o.resets[k] = offsetReset{offsets: offsets, until: now.Add(resetWindow)}
	o.dirty = true
}

// topicsOf lists the topics a group has offsets for.
func (o *offsetStore) topicsOf(group string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k := range o.table {
		if t, g, ok := strings.Cut(k, "@"); ok && g == group {
			out = append(out, t)
		}
	}
	return out
}

// query returns the committed offset, or -1 if there is none.
func (o *offsetStore) query(topic, group string, queueID int32) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off, ok := o.table[offsetKey(topic, group)][queueID]; ok {
		return off
	}
	return -1
}

// groupsOf lists groups with offsets on topic.
func (o *offsetStore) groupsOf(topic string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k := range o.table {
		if t, g, ok := strings.Cut(k, "@"); ok && t == topic {
			out = append(out, g)
		}
	}
	return out
}

// flush persists the table if it changed.
func (o *offsetStore) flush() error {
	o.flushMu.Lock()
	defer o.flushMu.Unlock()
	o.mu.Lock()
	if !o.dirty {
		o.mu.Unlock()
		return nil
	}
	f := offsetFile{OffsetTable: make(map[string]map[string]int64, len(o.table))}
	for k, m := range o.table {
		q := make(map[string]int64, len(m))
		for id, off := range m {
			q[strconv.Itoa(int(id))] = off
		}
		f.OffsetTable[k] = q
	}
	o.dirty = false
	o.mu.Unlock()
	if err := o.file.save(f); err != nil {
		o.mu.Lock()
		o.dirty = true
		o.mu.Unlock()
		return err
	}
	return nil
}
