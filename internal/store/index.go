package store

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strconv"
	"sync"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

const (
	indexHeaderSize = 40
	indexEntrySize  = 20
)

// indexFile is one hash-index file (layout in the package doc). Its
// in-memory header fields are the truth while it is written; the header
// bytes are written when it fills and on a clean close.
type indexFile struct {
	df         *dataFile
	slots      int
	maxEntries int

	count     int // entries used; entry numbers are 1..count
	beginTs   int64
	endTs     int64
	beginPhys int64
	endPhys   int64

	synced int  // entries synced (checkpointer)
	sealed bool // full, and every byte synced
}

func indexFileSize(slots, entries int) int64 {
	return indexHeaderSize + int64(slots)*4 + int64(entries)*indexEntrySize
}

func (f *indexFile) slotPos(h uint32) int64 { return indexHeaderSize + int64(h%uint32(f.slots))*4 }

func (f *indexFile) entryPos(n int) int64 {
	return indexHeaderSize + int64(f.slots)*4 + int64(n-1)*indexEntrySize
}

func (f *indexFile) full() bool { return f.count >= f.maxEntries }

// add links a new entry into its slot's chain.
func (f *indexFile) add(h uint32, phys, ts int64) {
	d := f.df.data
	sp := f.slotPos(h)
	prev := binary.BigEndian.Uint32(d[sp:])
	n := f.count + 1
	ep := f.entryPos(n)
	binary.BigEndian.PutUint32(d[ep:], h)
	binary.BigEndian.PutUint64(d[ep+4:], uint64(phys))
	binary.BigEndian.PutUint32(d[ep+12:], uint32((ts-f.beginTs)/1000))
	binary.BigEndian.PutUint32(d[ep+16:], prev)
	binary.BigEndian.PutUint32(d[sp:], uint32(n))
	f.count = n
	f.endTs, f.endPhys = ts, phys
}

type indexEntry struct {
	hash uint32
	phys int64
	ts   int64 // whole seconds, in ms
	prev uint32
}

func (f *indexFile) entry(n int) indexEntry {
	d := f.df.data
	ep := f.entryPos(n)
	return indexEntry{
		hash: binary.BigEndian.Uint32(d[ep:]),
		phys: int64(binary.BigEndian.Uint64(d[ep+4:])),
		ts:   f.beginTs + int64(binary.BigEndian.Uint32(d[ep+12:]))*1000,
		prev: binary.BigEndian.Uint32(d[ep+16:]),
	}
}

func (f *indexFile) writeHeader() {
	d := f.df.data
	binary.BigEndian.PutUint64(d[0:], uint64(f.beginTs))
	binary.BigEndian.PutUint64(d[8:], uint64(f.endTs))
	binary.BigEndian.PutUint64(d[16:], uint64(f.beginPhys))
	binary.BigEndian.PutUint64(d[24:], uint64(f.endPhys))
	binary.BigEndian.PutUint32(d[32:], uint32(f.slots))
	binary.BigEndian.PutUint32(d[36:], uint32(f.count))
}

// readHeader loads a sealed file's header, checking it against the config.
func (f *indexFile) readHeader() error {
	d := f.df.data
	f.beginTs = int64(binary.BigEndian.Uint64(d[0:]))
	f.endTs = int64(binary.BigEndian.Uint64(d[8:]))
	f.beginPhys = int64(binary.BigEndian.Uint64(d[16:]))
	f.endPhys = int64(binary.BigEndian.Uint64(d[24:]))
	slots := int(binary.BigEndian.Uint32(d[32:]))
	f.count = int(binary.BigEndian.Uint32(d[36:]))
	if slots != f.slots || f.count < 0 || f.count > f.maxEntries || f.beginPhys != f.df.start {
		return fmt.Errorf("%w: index file %s: header (slots %d, count %d, begin %d) does not match", ErrCorrupt, f.df.path, slots, f.count, f.beginPhys)
	}
	return nil
}

// rebuild zeroes entries past count and relinks every slot chain from the
// entries: after a crash the slot table on disk may mention lost entries.
func (f *indexFile) rebuild() error {
	d := f.df.data
	clear(d[indexHeaderSize : indexHeaderSize+int64(f.slots)*4])
	clear(d[f.entryPos(f.count+1):])
	for n := 1; n <= f.count; n++ {
		e := f.entry(n)
		sp := f.slotPos(e.hash)
		binary.BigEndian.PutUint32(d[f.entryPos(n)+16:], binary.BigEndian.Uint32(d[sp:]))
		binary.BigEndian.PutUint32(d[sp:], uint32(n))
	}
	if f.count > 0 {
		e := f.entry(f.count)
		f.endTs, f.endPhys = e.ts, e.phys
	}
	f.writeHeader()
	return f.df.sync(f.df.start, f.df.end())
}

// keyIndex finds messages by key: KEYS values and UNIQ_KEY, hashed with
// their topic. The dispatcher adds entries; queries read concurrently
// under mu.
type keyIndex struct {
	fs  vfs.FS
	dir string
	cfg *Config

	mu    sync.RWMutex
	files []*indexFile
}

func newKeyIndex(cfg *Config) *keyIndex {
	return &keyIndex{fs: cfg.FS, dir: path.Join(cfg.Dir, "index"), cfg: cfg}
}

// keyHash is FNV-1a over topic, '#', key.
func keyHash(topic, key []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range topic {
		h = (h ^ uint32(c)) * 16777619
	}
	h = (h ^ '#') * 16777619
	for _, c := range key {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func (x *keyIndex) newFile(phys, ts int64) (*indexFile, error) {
	size := indexFileSize(x.cfg.IndexHashSlots, x.cfg.IndexMaxEntries)
	if err := x.fs.MkdirAll(x.dir); err != nil {
		return nil, fmt.Errorf("create %s: %w", x.dir, err)
	}
	df, err := createDataFile(x.fs, x.dir, phys, size, true)
	if err != nil {
		return nil, err
	}
	f := &indexFile{df: df, slots: x.cfg.IndexHashSlots, maxEntries: x.cfg.IndexMaxEntries,
		beginTs: ts, endTs: ts, beginPhys: phys, endPhys: phys}
	f.writeHeader()
	if err := df.sync(df.start, df.start+indexHeaderSize); err != nil {
		df.close()
		return nil, err
	}
	return f, nil
}

// put indexes one key of the message at phys. Called by the dispatcher.
func (x *keyIndex) put(topic, key []byte, phys, ts int64) error {
	if len(key) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var last *indexFile
	if n := len(x.files); n > 0 {
		last = x.files[n-1]
	}
	if last == nil || last.full() {
		if last != nil {
			last.writeHeader()
		}
		f, err := x.newFile(phys, ts)
		if err != nil {
			return err
		}
		x.files = append(x.files, f)
		last = f
	}
	last.add(keyHash(topic, key), phys, ts)
	return nil
}

// lookup returns the commit-log offsets of entries whose hash matches the
// key and whose store time (to the second) is in [begin, end], newest
// first, at most max. Callers verify the records: hashes collide.
func (x *keyIndex) lookup(topic, key []byte, max int, begin, end int64) []int64 {
	h := keyHash(topic, key)
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []int64
	for i := len(x.files) - 1; i >= 0 && len(out) < max; i-- {
		f := x.files[i]
		if f.count == 0 || f.endTs < begin-1000 || f.beginTs > end {
			continue
		}
		n := int(binary.BigEndian.Uint32(f.df.data[f.slotPos(h):]))
		for n > 0 && n <= f.count && len(out) < max {
			e := f.entry(n)
			// e.ts is truncated to whole seconds after beginTs: the message
			// was stored in [e.ts, e.ts+999].
			if e.hash == h && e.ts <= end && e.ts+999 >= begin {
				out = append(out, e.phys)
			}
			if int(e.prev) >= n {
				break // chains only point backwards; anything else is damage
			}
			n = int(e.prev)
		}
	}
	return out
}

// snapshot returns the active file's start and entry count (-1, 0 if none).
// Called with the dispatcher lock held.
func (x *keyIndex) snapshot() (int64, int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if n := len(x.files); n > 0 {
		return x.files[n-1].df.start, x.files[n-1].count
	}
	return -1, 0
}

// syncTo makes full files and the active file's entries below count
// durable, so a checkpoint may name them.
func (x *keyIndex) syncTo(active int64, count int) error {
	x.mu.RLock()
	files := append([]*indexFile(nil), x.files...)
	x.mu.RUnlock()
	for _, f := range files {
		switch {
		case f.df.start < active && !f.sealed:
			// Full and no longer written: header was written when it filled.
			if err := f.df.sync(f.df.start, f.df.end()); err != nil {
				return err
			}
			f.sealed = true
		case f.df.start == active && count > f.synced:
			if err := f.df.sync(f.df.start+f.entryPos(f.synced+1), f.df.start+f.entryPos(count+1)); err != nil {
				return err
			}
			f.synced = count
		}
	}
	return nil
}

// load opens the index files, keeping what the checkpoint vouches for:
// files before the active one are sealed, the active one is cut back to
// count entries and, unless the store closed cleanly, its slots rebuilt.
// Files the checkpoint does not know are deleted; re-dispatch rebuilds them.
func (x *keyIndex) load(active int64, count int, clean bool) error {
	if err := x.fs.MkdirAll(x.dir); err != nil {
		return fmt.Errorf("create %s: %w", x.dir, err)
	}
	names, err := x.fs.List(x.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", x.dir, err)
	}
	var starts []int64
	for _, n := range names {
		s, err := strconv.ParseInt(n, 10, 64)
		if err != nil || len(n) != 20 {
			return fmt.Errorf("%s: unexpected file %q", x.dir, n)
		}
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	size := indexFileSize(x.cfg.IndexHashSlots, x.cfg.IndexMaxEntries)
	var removed bool
	for _, s := range starts {
		p := path.Join(x.dir, fileName(s))
		if active < 0 || s > active {
			if err := x.fs.Remove(p); err != nil {
				return fmt.Errorf("remove %s: %w", p, err)
			}
			removed = true
			continue
		}
		df, err := openDataFile(x.fs, p, s, size, true)
		if err != nil {
			return err
		}
		f := &indexFile{df: df, slots: x.cfg.IndexHashSlots, maxEntries: x.cfg.IndexMaxEntries}
		x.files = append(x.files, f)
		if err := f.readHeader(); err != nil {
			return err
		}
		if s < active {
			f.sealed, f.synced = true, f.count
			continue
		}
		// The active file: its header's begin fields were synced at creation.
		if count > f.maxEntries {
			return fmt.Errorf("%w: checkpoint names %d entries in index file %s", ErrCorrupt, count, p)
		}
		f.count = count
		if !clean {
			if err := f.rebuild(); err != nil {
				return err
			}
		} else if count > 0 {
			e := f.entry(count)
			f.endTs, f.endPhys = e.ts, e.phys
		}
		f.synced = count
	}
	if active >= 0 && (len(x.files) == 0 || x.files[len(x.files)-1].df.start != active) {
		return fmt.Errorf("%w: index file %s named by the checkpoint is missing", ErrCorrupt, fileName(active))
	}
	if removed {
		if err := x.fs.SyncDir(x.dir); err != nil {
			return fmt.Errorf("sync directory %s: %w", x.dir, err)
		}
	}
	return nil
}

// dropExpired deletes files (never the active one) whose entries all
// point below commitLogMin.
func (x *keyIndex) dropExpired(commitLogMin int64) error {
	x.mu.Lock()
	var gone []*indexFile
	for len(x.files) > 1 && x.files[0].endPhys < commitLogMin && x.files[0].sealed {
		gone = append(gone, x.files[0])
		x.files = x.files[1:]
	}
	x.mu.Unlock()
	for _, f := range gone {
		f.df.close()
		if err := x.fs.Remove(f.df.path); err != nil {
			return fmt.Errorf("remove %s: %w", f.df.path, err)
		}
	}
	if len(gone) > 0 {
		if err := x.fs.SyncDir(x.dir); err != nil {
			return fmt.Errorf("sync directory %s: %w", x.dir, err)
		}
	}
	return nil
}

// syncAll writes the active file's header and makes every file durable,
// slot tables included. Only for a store that no longer dispatches.
func (x *keyIndex) syncAll() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range x.files {
		if f.sealed {
			continue
		}
		f.writeHeader()
		if err := f.df.sync(f.df.start, f.df.end()); err != nil {
			return err
		}
	}
	return nil
}

func (x *keyIndex) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range x.files {
		f.df.close()
	}
	x.files = nil
}
