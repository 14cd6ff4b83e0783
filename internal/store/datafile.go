package store

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// dataFile is one fixed-size, preallocated data file: a commit-log
// segment, a consume-queue file or an index file. Commit-log and
// consume-queue files are written with WriteAt, never through a mapping
// (on this class of VM, writes through a shared mapping made syncs 3-4x
// slower, and under ASYNC_FLUSH they stalled appends behind write-protect
// faults during writeback: a 21 ms publish p99 instead of 2 ms; see
// docs/benchmarks.md). Index files, which take random slot updates, are
// mapped (data != nil) and written through the mapping. Commit-log
// segments are mapped too under ASYNC_FLUSH, for reads only: readAt
// copies from the mapping instead of a pread per read (GetMessages 4x
// faster).
// Readers of the mapping hold a read reference; deleting a file takes the
// write lock, so it is never unmapped under a reader. ReadAt on a closed
// file fails cleanly, so plain files need no reference.
type dataFile struct {
	path  string
	start int64 // offset of the file's first byte in its sequence
	size  int64
	file  vfs.File
	data  []byte // the mapping, for mapped files only
	// direct is a second handle for direct writes (commit-log segments
	// under SYNC_FLUSH; see commitLog.writeStaged), opened on the first
	// write (directTried), so the many segments only read never hold
	// one. Only the commit log's flush (under flushMu) opens, writes
	// through or drops it; opening, dropping and closing take mu.
	direct      vfs.File
	directTried bool

	mu     sync.RWMutex
	closed bool
}

func fileName(start int64) string { return fmt.Sprintf("%020d", start) }

// createDataFile creates a file of size bytes, makes its existence and
// size durable, and maps it if asked. A full disk fails here.
func createDataFile(fs vfs.FS, dir string, start, size int64, mapped bool) (*dataFile, error) {
	p := path.Join(dir, fileName(start))
	f, err := fs.Create(p)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	if err := f.Preallocate(size); err != nil {
		f.Close()
		fs.Remove(p)
		return nil, fmt.Errorf("preallocate %d bytes for %s: %w", size, p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync %s: %w", p, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return newDataFile(f, p, start, size, mapped)
}

// openDataFile opens an existing file, completing its preallocation if a
// crash cut it short.
func openDataFile(fs vfs.FS, p string, start, size int64, mapped bool) (*dataFile, error) {
	f, err := fs.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	n, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("size of %s: %w", p, err)
	}
	if n > size {
		f.Close()
		return nil, fmt.Errorf("%s is %d bytes, larger than the configured file size %d", p, n, size)
	}
	if n < size {
		if err := f.Preallocate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("complete preallocation of %s: %w", p, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return newDataFile(f, p, start, size, mapped)
}

func newDataFile(f vfs.File, p string, start, size int64, mapped bool) (*dataFile, error) {
	d := &dataFile{path: p, start: start, size: size, file: f}
	if mapped {
		data, err := f.Map(int(size))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("map %s: %w", p, err)
		}
		d.data = data
	}
	return d, nil
}

func (m *dataFile) end() int64 { return m.start + m.size }

// writeAt writes b at offset off of the sequence.
func (m *dataFile) writeAt(b []byte, off int64) error {
	if _, err := m.file.WriteAt(b, off-m.start); err != nil {
		return fmt.Errorf("write %s: %w", m.path, err)
	}
	return nil
}

// readAt fills b from offset off of the sequence, from the mapping when
// the file is mapped.
func (m *dataFile) readAt(b []byte, off int64) error {
	if m.data != nil {
		if off < m.start || off-m.start > m.size-int64(len(b)) {
			return fmt.Errorf("read %s at %d+%d: %w", m.path, off-m.start, len(b), io.ErrUnexpectedEOF)
		}
		if !m.acquire() {
			return fmt.Errorf("read %s: %w", m.path, fs.ErrClosed)
		}
		copy(b, m.data[off-m.start:])
		m.release()
		return nil
	}
	if _, err := m.file.ReadAt(b, off-m.start); err != nil {
		return fmt.Errorf("read %s at %d: %w", m.path, off-m.start, err)
	}
	return nil
}

// acquire takes a read reference; false means the file was deleted.
func (m *dataFile) acquire() bool {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return false
	}
	return true
}

func (m *dataFile) release() { m.mu.RUnlock() }

// sync makes [from, to) (offsets in the sequence) durable.
func (m *dataFile) sync(from, to int64) error {
	if from < m.start {
		from = m.start
	}
	if to > m.end() {
		to = m.end()
	}
	if to <= from {
		return nil
	}
	if err := m.file.SyncRange(from-m.start, to-from); err != nil {
		return fmt.Errorf("sync %s: %w", m.path, err)
	}
	return nil
}

// zero clears [off, end) and makes the zeros durable, so bytes past a
// recovered end can never be read back as data.
func (m *dataFile) zero(off int64) error {
	if off >= m.end() {
		return nil
	}
	if err := m.file.ZeroRange(off-m.start, m.end()-off); err != nil {
		return fmt.Errorf("zero %s from %d: %w", m.path, off-m.start, err)
	}
	return m.sync(off, m.end())
}

// writeDirect writes b, which must be aligned as vfs.DirectAlign says,
// at offset off of the sequence through the direct handle.
func (m *dataFile) writeDirect(d vfs.File, b []byte, off int64) error {
	if _, err := d.WriteAt(b, off-m.start); err != nil {
		return fmt.Errorf("direct write %s: %w", m.path, err)
	}
	return nil
}

// directHandle returns the file's direct-write handle, opening it on the
// first call, or nil when there is none: the file is closed, the file
// system cannot open one, or a write through it failed (dropDirect).
func (m *dataFile) directHandle(fs vfs.FS) vfs.File {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.directTried && !m.closed {
		m.directTried = true
		if d, ok := fs.(vfs.DirectOpener); ok {
			if h, err := d.OpenDirect(m.path); err == nil {
				m.direct = h
			}
		}
	}
	return m.direct
}

// dropDirect closes the direct handle; later writes take the plain one.
func (m *dataFile) dropDirect() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.direct != nil {
		m.direct.Close()
		m.direct = nil
	}
}

// close unmaps and closes the file once no reader holds it.
func (m *dataFile) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.direct != nil {
		m.direct.Close()
		m.direct = nil
	}
	return m.file.Close()
}

// fileQueue is an ordered run of equal-size data files that cover one
// contiguous offset range, each named by its start offset. The file list is
// replaced copy-on-write so lookups take no lock.
type fileQueue struct {
	fs       vfs.FS
	dir      string
	fileSize int64
	mapped   bool
	direct   bool           // write files through a direct handle too, where the FS can
	warmer   *segmentWarmer // nil, or prepares the next file (see warm.go)

	mu    sync.Mutex // serialises changes to files
	files atomic.Pointer[[]*dataFile]
}

func newFileQueue(fs vfs.FS, dir string, fileSize int64, mapped bool) *fileQueue {
	q := &fileQueue{fs: fs, dir: dir, fileSize: fileSize, mapped: mapped}
	q.files.Store(new([]*dataFile))
	return q
}

// load opens the files found in dir. They must be contiguous: a hole means
// lost data, which is reported rather than skipped.
func (q *fileQueue) load() error {
	names, err := q.fs.List(q.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", q.dir, err)
	}
	var starts []int64
	for _, n := range names {
		if isWarmLeftover(n) {
			if err := q.fs.Remove(path.Join(q.dir, n)); err != nil {
				return fmt.Errorf("remove half-prepared segment %s: %w", n, err)
			}
			continue
		}
		start, err := strconv.ParseInt(n, 10, 64)
		if err != nil || len(n) != 20 || start < 0 {
			return fmt.Errorf("%s: unexpected file %q", q.dir, n)
		}
		if start%q.fileSize != 0 {
			return fmt.Errorf("%s: file %s does not start at a multiple of the file size %d (was the size changed?)", q.dir, n, q.fileSize)
		}
		starts = append(starts, start)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	var files []*dataFile
	for i, s := range starts {
		if i > 0 && s != starts[i-1]+q.fileSize {
			closeAll(files)
			return fmt.Errorf("%s: files %s and %s are not contiguous: data between them is missing", q.dir, fileName(starts[i-1]), fileName(s))
		}
		f, err := openDataFile(q.fs, path.Join(q.dir, fileName(s)), s, q.fileSize, q.mapped)
		if err != nil {
			closeAll(files)
			return err
		}
		files = append(files, f)
	}
	q.files.Store(&files)
	return nil
}

func closeAll(files []*dataFile) {
	for _, f := range files {
		f.close()
	}
}

func (q *fileQueue) list() []*dataFile { return *q.files.Load() }

// find returns the file holding offset off, or nil.
func (q *fileQueue) find(off int64) *dataFile {
	files := q.list()
	if len(files) == 0 || off < files[0].start {
		return nil
	}
	i := (off - files[0].start) / q.fileSize
	if i >= int64(len(files)) {
		return nil
	}
	return files[i]
}

func (q *fileQueue) last() *dataFile {
	files := q.list()
	if len(files) == 0 {
		return nil
	}
	return files[len(files)-1]
}

func (q *fileQueue) first() *dataFile {
	files := q.list()
	if len(files) == 0 {
		return nil
	}
	return files[0]
}

// minOffset is the start of the first file (0 when empty).
func (q *fileQueue) minOffset() int64 {
	if f := q.first(); f != nil {
		return f.start
	}
	return 0
}

// create adds the file starting at start, which must directly follow the
// last file (or be any multiple of the file size when the queue is empty).
func (q *fileQueue) create(start int64) (*dataFile, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	old := q.list()
	if n := len(old); n > 0 && start != old[n-1].end() {
		return nil, fmt.Errorf("%s: new file at %d does not follow %d", q.dir, start, old[n-1].end())
	}
	if err := q.fs.MkdirAll(q.dir); err != nil {
		return nil, fmt.Errorf("create %s: %w", q.dir, err)
	}
	f, err := q.createOrTakeWarm(start)
	if err != nil {
		return nil, err
	}
	files := append(append(make([]*dataFile, 0, len(old)+1), old...), f)
	q.files.Store(&files)
	if q.warmer != nil {
		q.warmer.request(f.end())
	}
	return f, nil
}

// directHandle returns f's direct-write handle when the queue writes
// with direct I/O (see dataFile.directHandle), else nil. Files whose size
// is not a multiple of vfs.DirectAlign get none: their last block could
// not be written whole.
func (q *fileQueue) directHandle(f *dataFile) vfs.File {
	if !q.direct || q.fileSize%vfs.DirectAlign != 0 {
		return nil
	}
	return f.directHandle(q.fs)
}

// createOrTakeWarm returns the new file for start: the one the warmer
// prepared, or a fresh one.
func (q *fileQueue) createOrTakeWarm(start int64) (*dataFile, error) {
	if q.warmer != nil {
		took, err := q.warmer.take(start)
		if err != nil {
			return nil, err
		}
		if took {
			return openDataFile(q.fs, path.Join(q.dir, fileName(start)), start, q.fileSize, q.mapped)
		}
	}
	return createDataFile(q.fs, q.dir, start, q.fileSize, q.mapped)
}

// removeFirst deletes the first n files.
func (q *fileQueue) removeFirst(n int) error {
	q.mu.Lock()
	old := q.list()
	if n > len(old) {
		n = len(old)
	}
	gone := old[:n]
	rest := append([]*dataFile(nil), old[n:]...)
	q.files.Store(&rest)
	q.mu.Unlock()
	return q.destroy(gone)
}

// truncate zeroes [off, end of its file) and deletes every later file.
func (q *fileQueue) truncate(off int64) error {
	q.mu.Lock()
	old := q.list()
	keep := len(old)
	for i, f := range old {
		if f.start >= off {
			keep = i
			break
		}
	}
	var tail *dataFile
	if keep > 0 && off < old[keep-1].end() {
		tail = old[keep-1]
	}
	gone := old[keep:]
	rest := append([]*dataFile(nil), old[:keep]...)
	q.files.Store(&rest)
	q.mu.Unlock()
	if tail != nil {
		if err := tail.zero(off); err != nil {
			return err
		}
	}
	return q.destroy(gone)
}

// destroy closes and removes files that are no longer in the list.
func (q *fileQueue) destroy(gone []*dataFile) error {
	if len(gone) == 0 {
		return nil
	}
	var first error
	for _, f := range gone {
		if err := f.close(); err != nil && first == nil {
			first = err
		}
		if err := q.fs.Remove(f.path); err != nil && first == nil {
			first = fmt.Errorf("remove %s: %w", f.path, err)
		}
	}
	if err := q.fs.SyncDir(q.dir); err != nil && first == nil {
		first = fmt.Errorf("sync directory %s: %w", q.dir, err)
	}
	return first
}

func (q *fileQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	closeAll(q.list())
	q.files.Store(new([]*dataFile))
}
