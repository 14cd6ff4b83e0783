package broker

import (
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// offsetStore holds clustering consumers' committed offsets (the next
// queue offset to consume), keyed "topic@group" then queue id, persisted
// in config/consumerOffset.json every flushConsumerOffsetInterval and at
// shutdown (RocketMQ's ConsumerOffsetManager).
type offsetStore struct {
	file    jsonFile
	flushMu sync.Mutex // one save at a time, so an older table never wins

	mu    sync.Mutex
	table map[string]map[int32]int64
	dirty bool
}

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

// commit records offset for (topic, group, queue).
func (o *offsetStore) commit(topic, group string, queueID int32, offset int64) {
	k := offsetKey(topic, group)
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.table[k]
	if m == nil {
		m = make(map[int32]int64)
		o.table[k] = m
	}
	if m[queueID] != offset {
		m[queueID] = offset
		o.dirty = true
	}
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
