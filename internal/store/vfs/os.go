package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// Default is the operating system's file system.
var Default FS = osFS{}

// osFS implements FS with the os package; the platform files (os_linux.go,
// os_other.go) supply fallocate, fdatasync, mmap, msync and statfs.
type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{file: f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &osFile{file: f}, nil
}

// OpenDirect opens an existing file write-only for direct I/O (O_DIRECT on
// Linux; unsupported elsewhere).
func (osFS) OpenDirect(name string) (File, error) {
	f, err := openDirect(name)
	if err != nil {
		return nil, fmt.Errorf("vfs: open %s for direct I/O: %w", name, err)
	}
	return &osFile{file: f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) Stat(name string) (FileInfo, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("vfs: sync dir %s: %w", dir, err)
	}
	return d.Close()
}

func (osFS) DiskUsage(path string) (DiskUsage, error) {
	u, err := statfs(path)
	if err != nil {
		return DiskUsage{}, fmt.Errorf("vfs: disk usage %s: %w", path, err)
	}
	return u, nil
}

// osFile is an open operating-system file and at most one shared mapping of
// it.
type osFile struct {
	file *os.File

	// mu guards mapping. SyncRange holds it shared while it msyncs so that
	// Close cannot unmap the memory under it.
	mu      sync.RWMutex
	mapping []byte
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.file.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.file.WriteAt(p, off) }

// Close unmaps the file first: the mapping must not outlive the descriptor
// the store believes closed.
func (f *osFile) Close() error {
	f.mu.Lock()
	var unmapErr error
	if f.mapping != nil {
		unmapErr = munmap(f.mapping)
		f.mapping = nil
	}
	f.mu.Unlock()
	closeErr := f.file.Close()
	if unmapErr != nil {
		return fmt.Errorf("vfs: unmap %s: %w", f.file.Name(), unmapErr)
	}
	return closeErr
}

func (f *osFile) Sync() error {
	if err := fdatasync(f.file); err != nil {
		return fmt.Errorf("vfs: sync %s: %w", f.file.Name(), err)
	}
	return nil
}

// SyncRange msyncs only the pages covering the range when the range lies in
// the mapping, which is cheaper than fdatasync of the whole file; otherwise
// fdatasync, which on Linux also writes back pages dirtied through a mapping.
func (f *osFile) SyncRange(off, n int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("vfs: sync range %s [%d,+%d): %w", f.file.Name(), off, n, fs.ErrInvalid)
	}
	if n == 0 {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.mapping == nil || n > int64(len(f.mapping))-off {
		return f.Sync()
	}
	start := off &^ int64(os.Getpagesize()-1)
	if err := msync(f.mapping[start : off+n]); err != nil {
		return fmt.Errorf("vfs: msync %s [%d,+%d): %w", f.file.Name(), off, n, err)
	}
	return nil
}

func (f *osFile) Preallocate(size int64) error {
	if size < 0 {
		return fmt.Errorf("vfs: preallocate %s to %d: %w", f.file.Name(), size, fs.ErrInvalid)
	}
	if err := f.checkSizeChange(size, true); err != nil {
		return err
	}
	if err := fallocate(f.file, size); err != nil {
		return fmt.Errorf("vfs: preallocate %s to %d: %w", f.file.Name(), size, err)
	}
	return nil
}

func (f *osFile) ZeroRange(off, n int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("vfs: zero range %s [%d,+%d): %w", f.file.Name(), off, n, fs.ErrInvalid)
	}
	if err := zeroRange(f.file, off, n); err != nil {
		return fmt.Errorf("vfs: zero range %s [%d,+%d): %w", f.file.Name(), off, n, err)
	}
	return nil
}

// writeZeros is ZeroRange for file systems without fallocate.
func writeZeros(f *os.File, off, n int64) error {
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

func (f *osFile) Truncate(size int64) error {
	if err := f.checkSizeChange(size, false); err != nil {
		return err
	}
	return f.file.Truncate(size)
}

// checkSizeChange refuses to resize a mapped file, as MemFS does: shrinking
// it would turn later accesses through the mapping into SIGBUS, and the store
// is tested on MemFS, which cannot grow a mapping either. A Preallocate that
// does not grow the file changes no size and is allowed.
func (f *osFile) checkSizeChange(size int64, growOnly bool) error {
	f.mu.RLock()
	mapped := f.mapping != nil
	f.mu.RUnlock()
	if !mapped {
		return nil
	}
	cur, err := f.Size()
	if err != nil {
		return err
	}
	if size == cur || (growOnly && size < cur) {
		return nil
	}
	return fmt.Errorf("vfs: resize %s from %d to %d: %w", f.file.Name(), cur, size, ErrMapped)
}

func (f *osFile) Size() (int64, error) {
	fi, err := f.file.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *osFile) Map(size int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mapping != nil {
		return nil, fmt.Errorf("vfs: map %s: already mapped: %w", f.file.Name(), ErrMapped)
	}
	if size <= 0 {
		return nil, fmt.Errorf("vfs: map %s with size %d: %w", f.file.Name(), size, fs.ErrInvalid)
	}
	// Touching a mapped page past the end of the file raises SIGBUS, so
	// refuse here rather than crash later.
	cur, err := f.Size()
	if err != nil {
		return nil, err
	}
	if int64(size) > cur {
		return nil, fmt.Errorf("vfs: map %d bytes of %s, which has %d: %w", size, f.file.Name(), cur, fs.ErrInvalid)
	}
	m, err := mmap(f.file, size)
	if err != nil {
		return nil, fmt.Errorf("vfs: map %s: %w", f.file.Name(), err)
	}
	f.mapping = m
	return m, nil
}
