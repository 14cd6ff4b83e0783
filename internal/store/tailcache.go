package store

import "sync"

// tailCache keeps a copy of the most recently written commit-log bytes,
// for readers under SYNC_FLUSH.
//
// Under SYNC_FLUSH the group commit writes the commit log with direct I/O
// (see commitLog.writeStaged), so what it writes never enters the page
// cache, and the dispatcher, which reads every record right after its
// sync, and consumers at the head of a queue would otherwise read it back
// from the disk. The cache is a ring indexed by commit-log offset: it
// holds [low, end), the last size bytes written at most, and a read
// outside it goes to the file.
type tailCache struct {
	mu   sync.RWMutex
	ring []byte
	low  int64 // first cached offset
	end  int64 // offset after the last cached byte
}

func newTailCache(size int) *tailCache {
	return &tailCache{ring: make([]byte, size)}
}

// reset empties the cache, which then continues at offset at.
func (c *tailCache) reset(at int64) {
	c.mu.Lock()
	c.low, c.end = at, at
	c.mu.Unlock()
}

// put records b, written at commit-log offset phys. Bytes the log skips
// between the cache's end and phys (the rest of a segment after its blank
// filler) read as zeros, as they do in the file. A put that does not
// continue the cached range within the ring's size starts it afresh.
func (c *tailCache) put(b []byte, phys int64) {
	size := int64(len(c.ring))
	c.mu.Lock()
	defer c.mu.Unlock()
	if phys < c.end || phys-c.end >= size || int64(len(b)) >= size {
		c.low, c.end = phys, phys
		if n := int64(len(b)); n > size { // keep only what fits
			b, phys = b[n-size:], phys+n-size
			c.low, c.end = phys, phys
		}
	}
	for c.end < phys { // the skipped bytes
		at := c.end % size
		n := min(phys-c.end, size-at)
		clear(c.ring[at : at+n])
		c.end += n
	}
	for len(b) > 0 {
		at := c.end % size
		n := copy(c.ring[at:], b)
		b = b[n:]
		c.end += int64(n)
	}
	c.low = max(c.low, c.end-size)
}

// read fills b from commit-log offset phys and reports whether the cache
// held all of it.
func (c *tailCache) read(b []byte, phys int64) bool {
	size := int64(len(c.ring))
	c.mu.RLock()
	defer c.mu.RUnlock()
	if phys < c.low || phys+int64(len(b)) > c.end {
		return false
	}
	for len(b) > 0 {
		at := phys % size
		n := copy(b, c.ring[at:])
		b = b[n:]
		phys += int64(n)
	}
	return true
}
