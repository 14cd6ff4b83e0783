package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math"
)

// memFile is an open MemFS file. Its fields other than fs, node and name are
// guarded by fs.mu.
type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	closed bool
	mapped bool
}

// lock takes the file system's lock and fails if the file is closed.
func (f *memFile) lock(op string) error {
	f.fs.mu.Lock()
	if f.closed {
		f.fs.mu.Unlock()
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

func (f *memFile) unlock() { f.fs.mu.Unlock() }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.lock("read"); err != nil {
		return 0, err
	}
	defer f.unlock()
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	data := f.node.data
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.lock("write"); err != nil {
		return 0, err
	}
	defer f.unlock()
	if off < 0 || off > math.MaxInt64-int64(len(p)) {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		if err := f.fs.resizeLocked("write", f.name, f.node, end); err != nil {
			return 0, err
		}
	}
	copy(f.node.data[off:], p)
	f.node.modTime = f.fs.mu.now()
	return len(p), nil
}

// Close implements File; it ends the file's mapping.
func (f *memFile) Close() error {
	if err := f.lock("close"); err != nil {
		return err
	}
	defer f.unlock()
	f.closed = true
	if f.mapped {
		f.mapped = false
		f.node.maps--
	}
	return nil
}

// Sync implements File. It reads all of the file's data, so on a mapped
// file it must not run while another goroutine writes through the mapping
// (the race detector would report it); use SyncRange there.
func (f *memFile) Sync() error {
	if err := f.lock("sync"); err != nil {
		return err
	}
	defer f.unlock()
	n := f.node
	if cap(n.synced) >= len(n.data) {
		n.synced = n.synced[:len(n.data)]
	} else {
		n.synced = make([]byte, len(n.data))
	}
	copy(n.synced, n.data)
	f.touchMappedLocked()
	return nil
}

// SyncRange implements File. It reads only data[off:off+n], so other
// goroutines may meanwhile write elsewhere through the mapping. Bytes past
// the durable size stay undurable until Sync makes the size durable.
func (f *memFile) SyncRange(off, n int64) error {
	if err := f.lock("sync"); err != nil {
		return err
	}
	defer f.unlock()
	if off < 0 || n < 0 {
		return &fs.PathError{Op: "sync", Path: f.name, Err: fs.ErrInvalid}
	}
	node := f.node
	if limit := int64(min(len(node.data), len(node.synced))); off < limit {
		end := off + min(n, limit-off)
		copy(node.synced[off:end], node.data[off:end])
	}
	f.touchMappedLocked()
	return nil
}

// touchMappedLocked stamps a mapped file at sync time: its writes through
// the mapping cannot be seen when they happen.
func (f *memFile) touchMappedLocked() {
	if f.node.maps > 0 {
		f.node.modTime = f.fs.mu.now()
	}
}

func (f *memFile) Preallocate(size int64) error {
	if err := f.lock("preallocate"); err != nil {
		return err
	}
	defer f.unlock()
	if size < 0 {
		return &fs.PathError{Op: "preallocate", Path: f.name, Err: fs.ErrInvalid}
	}
	if size > int64(len(f.node.data)) {
		if err := f.fs.resizeLocked("preallocate", f.name, f.node, size); err != nil {
			return err
		}
	}
	f.node.modTime = f.fs.mu.now()
	return nil
}

// ZeroRange implements File; bytes past the file's end are left alone.
func (f *memFile) ZeroRange(off, n int64) error {
	if err := f.lock("zero range"); err != nil {
		return err
	}
	defer f.unlock()
	if off < 0 || n < 0 {
		return &fs.PathError{Op: "zero range", Path: f.name, Err: fs.ErrInvalid}
	}
	data := f.node.data
	if off < int64(len(data)) {
		clear(data[off : off+min(n, int64(len(data))-off)])
	}
	f.node.modTime = f.fs.mu.now()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.lock("truncate"); err != nil {
		return err
	}
	defer f.unlock()
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	if err := f.fs.resizeLocked("truncate", f.name, f.node, size); err != nil {
		return err
	}
	f.node.modTime = f.fs.mu.now()
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.lock("stat"); err != nil {
		return 0, err
	}
	defer f.unlock()
	return int64(len(f.node.data)), nil
}

// Map implements File: the slice aliases the file's current data, so
// writes through it are writes to the file, durable after SyncRange.
func (f *memFile) Map(size int) ([]byte, error) {
	if err := f.lock("map"); err != nil {
		return nil, err
	}
	defer f.unlock()
	if f.mapped {
		return nil, &fs.PathError{Op: "map", Path: f.name, Err: fmt.Errorf("already mapped: %w", ErrMapped)}
	}
	if size <= 0 || size > len(f.node.data) {
		return nil, &fs.PathError{Op: "map", Path: f.name,
			Err: fmt.Errorf("%d bytes of a %d-byte file: %w", size, len(f.node.data), fs.ErrInvalid)}
	}
	f.mapped = true
	f.node.maps++
	return f.node.data[:size:size], nil
}
