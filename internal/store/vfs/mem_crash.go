package vfs

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
)

// crashPageSize is the unit in which unsynced data may or may not have
// reached the disk before a crash: the page cache writes pages back in no
// particular order.
const crashPageSize = 4096

// CrashOptions chooses what unsynced data survives MemFS.CrashClone.
type CrashOptions struct {
	// KeepUnsyncedProbability is the chance that a page (4096 bytes, at a
	// multiple of 4096 in the file) whose current data differs from its
	// synced data was written back anyway, so that its current data
	// survives. 0, the default, drops everything unsynced; 1 keeps every
	// page within the durable size. Sizes and directory entries are never
	// kept unsynced.
	KeepUnsyncedProbability float64
	// Seed seeds the choice of pages, so that a crash can be replayed.
	Seed int64
}

// CrashClone returns a new, independent MemFS holding what a machine would
// find after a power loss at this instant: the durable directory entries,
// each file at its durable size with its synced bytes, plus the unsynced
// pages chosen by opts. Nothing in the clone is mapped, and all of it is
// durable. m keeps working; the clone has m's capacity and clock.
//
// With KeepUnsyncedProbability 0 CrashClone reads only synced bytes, so it
// may run while other goroutines write through mappings. Otherwise it reads
// the files' current data and those writers must be stopped first, or the
// race detector reports the conflicting accesses.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := crashCloner{
		opts:   opts,
		rng:    rand.New(rand.NewPCG(uint64(opts.Seed), 0)),
		clones: map[*memNode]*memNode{},
	}
	clone := &MemFS{}
	clone.mu.root = c.cloneDir(m.mu.root)
	clone.mu.capacity = m.mu.capacity
	clone.mu.now = m.mu.now
	clone.mu.used = c.used
	return clone
}

// crashCloner copies the durable tree. It visits entries in name order so
// that a seed always picks the same pages.
type crashCloner struct {
	opts   CrashOptions
	rng    *rand.Rand
	clones map[*memNode]*memNode // a file can have two durable entries after an unsynced rename
	used   int64
}

func (c *crashCloner) clone(n *memNode) *memNode {
	if cl, ok := c.clones[n]; ok {
		if !cl.isDir {
			cl.nlink++
		}
		return cl
	}
	var cl *memNode
	if n.isDir {
		cl = c.cloneDir(n)
	} else {
		cl = c.cloneFile(n)
	}
	c.clones[n] = cl
	return cl
}

func (c *crashCloner) cloneDir(d *memNode) *memNode {
	cl := newMemDir(d.modTime)
	for _, name := range slices.Sorted(maps.Keys(d.durable)) {
		child := c.clone(d.durable[name])
		cl.children[name] = child
		cl.durable[name] = child
	}
	return cl
}

func (c *crashCloner) cloneFile(n *memNode) *memNode {
	data := bytes.Clone(n.synced)
	if c.opts.KeepUnsyncedProbability > 0 {
		c.keepUnsynced(data, n.data)
	}
	c.used += int64(len(data))
	return &memNode{
		modTime: n.modTime,
		data:    data,
		synced:  bytes.Clone(data),
		nlink:   1,
	}
}

// keepUnsynced copies into durable, page by page, the current bytes of the
// pages chosen to have been written back. Only the part of a page within
// both the durable and the current size can differ.
func (c *crashCloner) keepUnsynced(durable, current []byte) {
	limit := min(len(durable), len(current))
	for start := 0; start < limit; start += crashPageSize {
		end := min(start+crashPageSize, limit)
		if bytes.Equal(durable[start:end], current[start:end]) {
			continue
		}
		if c.opts.KeepUnsyncedProbability >= 1 || c.rng.Float64() < c.opts.KeepUnsyncedProbability {
			copy(durable[start:end], current[start:end])
		}
	}
}
