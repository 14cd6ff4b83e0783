package vfs

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// unlimitedTotal is the Total that DiskUsage reports for a MemFS without a
// capacity: large, so that used ratios stay near zero.
const unlimitedTotal = 1 << 50

// MemFS is an in-memory FS for tests that keeps, next to each file's current
// contents, what would survive a power loss, following the durability rules
// in the package doc. CrashClone takes the survivor. It is safe for
// concurrent use.
//
// Paths are interpreted from one root: "a/b" and "/a/b" name the same file.
type MemFS struct {
	mu struct {
		sync.Mutex
		root     *memNode
		capacity int64 // bytes; 0 is unlimited
		used     int64 // sum of the sizes of linked files
		now      func() time.Time
	}
}

// memNode is a file (inode) or a directory.
type memNode struct {
	isDir   bool
	modTime time.Time

	// Directories: children are the current entries, durable the entries
	// as of the last SyncDir. Both point at the same nodes.
	children map[string]*memNode
	durable  map[string]*memNode

	// Files. data is the current contents and its length the current size;
	// synced is the durable contents and its length the durable size. The
	// two never share memory.
	data   []byte
	synced []byte
	maps   int // open mappings of data
	nlink  int // current directory entries; only linked files use capacity
}

// NewMem returns an empty in-memory file system with unlimited capacity and
// time.Now as its clock.
func NewMem() *MemFS {
	m := &MemFS{}
	m.mu.root = newMemDir(time.Time{})
	m.mu.now = time.Now
	return m
}

func newMemDir(modTime time.Time) *memNode {
	return &memNode{
		isDir:    true,
		modTime:  modTime,
		children: map[string]*memNode{},
		durable:  map[string]*memNode{},
	}
}

// SetCapacity limits the total size of all files to bytes (0 removes the
// limit). A write, Preallocate or Truncate that would go past it fails with
// an error wrapping ErrNoSpace and changes nothing. Lowering the capacity
// below what is used already fails only later growth.
func (m *MemFS) SetCapacity(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.capacity = bytes
}

// SetNow sets the clock that stamps modification times.
func (m *MemFS) SetNow(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.now = now
}

// splitPath turns name into its components below the root; the root itself
// has none.
func splitPath(name string) (clean string, parts []string) {
	clean = path.Clean("/" + name)
	if clean == "/" {
		return clean, nil
	}
	return clean, strings.Split(clean[1:], "/")
}

// lookupLocked returns the node at name.
func (m *MemFS) lookupLocked(op, name string) (*memNode, error) {
	_, parts := splitPath(name)
	n := m.mu.root
	for _, p := range parts {
		if !n.isDir {
			return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		n = n.children[p]
		if n == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return n, nil
}

// parentLocked returns the directory holding name's entry and the entry's
// name in it.
func (m *MemFS) parentLocked(op, name string) (*memNode, string, error) {
	clean, parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, err := m.lookupLocked(op, path.Dir(clean))
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return dir, parts[len(parts)-1], nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("create", name)
	if err != nil {
		return nil, err
	}
	now := m.mu.now()
	n := dir.children[base]
	switch {
	case n == nil:
		n = &memNode{nlink: 1}
		dir.children[base] = n
		dir.modTime = now
	case n.isDir:
		return nil, &fs.PathError{Op: "create", Path: name, Err: syscall.EISDIR}
	default:
		if err := m.resizeLocked("create", name, n, 0); err != nil {
			return nil, err
		}
	}
	n.modTime = now
	return &memFile{fs: m, node: n, name: name}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	if n.isDir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return &memFile{fs: m, node: n, name: name}, nil
}

// OpenDirect implements DirectOpener. The handle writes the same file as
// any other, durable only after a sync, as direct writes are on a disk
// with a write cache; like Linux it refuses (EINVAL) a buffer, offset or
// length that is not a multiple of DirectAlign, so tests on MemFS catch a
// misaligned direct write.
func (m *MemFS) OpenDirect(name string) (File, error) {
	f, err := m.Open(name)
	if err != nil {
		return nil, err
	}
	return &memDirectFile{f.(*memFile)}, nil
}

type memDirectFile struct{ *memFile }

func (f *memDirectFile) WriteAt(p []byte, off int64) (int, error) {
	if off%DirectAlign != 0 || len(p)%DirectAlign != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(p)))%DirectAlign != 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	return f.memFile.WriteAt(p, off)
}

// Remove implements FS. An open file stays usable after its removal; it
// then no longer counts against the capacity.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n := dir.children[base]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.isDir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	dir.modTime = m.mu.now()
	m.unlinkLocked(n)
	return nil
}

func (m *MemFS) unlinkLocked(n *memNode) {
	if n.isDir {
		return
	}
	n.nlink--
	if n.nlink == 0 {
		m.mu.used -= int64(len(n.data))
	}
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldDir, oldBase, err := m.parentLocked("rename", oldname)
	if err != nil {
		return err
	}
	n := oldDir.children[oldBase]
	if n == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	newDir, newBase, err := m.parentLocked("rename", newname)
	if err != nil {
		return err
	}
	target := newDir.children[newBase]
	if target == n {
		return nil
	}
	if err := checkRename(oldname, newname, n, target); err != nil {
		return err
	}
	if target != nil {
		m.unlinkLocked(target)
	}
	delete(oldDir.children, oldBase)
	newDir.children[newBase] = n
	now := m.mu.now()
	oldDir.modTime, newDir.modTime = now, now
	return nil
}

// checkRename applies rename(2)'s rules on what may replace what.
func checkRename(oldname, newname string, n, target *memNode) error {
	linkErr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	oldClean, _ := splitPath(oldname)
	newClean, _ := splitPath(newname)
	switch {
	case n.isDir && strings.HasPrefix(newClean, oldClean+"/"):
		return linkErr(syscall.EINVAL) // a directory cannot move into itself
	case target == nil:
		return nil
	case target.isDir && !n.isDir:
		return linkErr(syscall.EISDIR)
	case !target.isDir && n.isDir:
		return linkErr(syscall.ENOTDIR)
	case target.isDir && len(target.children) > 0:
		return linkErr(syscall.ENOTEMPTY)
	}
	return nil
}

// MkdirAll implements FS. Directories it creates are durable at once, as if
// their parents had been synced.
func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, parts := splitPath(dir)
	n := m.mu.root
	for _, p := range parts {
		child := n.children[p]
		switch {
		case child == nil:
			now := m.mu.now()
			child = newMemDir(now)
			n.children[p] = child
			n.durable[p] = child
			n.modTime = now
		case !child.isDir:
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = child
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("readdir", dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: syscall.ENOTDIR}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS. Directories have size 0.
func (m *MemFS) Stat(name string) (FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	clean, _ := splitPath(name)
	return FileInfo{Name: path.Base(clean), Size: int64(len(n.data)), ModTime: n.modTime, IsDir: n.isDir}, nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("sync", dir)
	if err != nil {
		return err
	}
	if !n.isDir {
		return &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
	}
	n.durable = maps.Clone(n.children)
	return nil
}

// DiskUsage implements FS: Total is the capacity (a petabyte when
// unlimited) and Avail what the files leave of it.
func (m *MemFS) DiskUsage(path string) (DiskUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookupLocked("statfs", path); err != nil {
		return DiskUsage{}, err
	}
	total := int64(unlimitedTotal)
	if m.mu.capacity > 0 {
		total = m.mu.capacity
	}
	return DiskUsage{Total: uint64(total), Avail: uint64(max(total-m.mu.used, 0))}, nil
}

// resizeLocked sets n's current size, zero-filling growth. Growth is
// checked against the capacity; a mapped file cannot change size because
// its mapping aliases data.
func (m *MemFS) resizeLocked(op, name string, n *memNode, size int64) error {
	cur := int64(len(n.data))
	if size == cur {
		return nil
	}
	if n.maps > 0 {
		return &fs.PathError{Op: op, Path: name, Err: ErrMapped}
	}
	grow := size - cur
	if grow > 0 && n.nlink > 0 && m.mu.capacity > 0 && m.mu.used+grow > m.mu.capacity {
		return &fs.PathError{Op: op, Path: name, Err: ErrNoSpace}
	}
	if grow < 0 {
		n.data = n.data[:size]
	} else {
		// The spare capacity may hold bytes from before a shrink.
		n.data = slices.Grow(n.data, int(grow))[:size]
		clear(n.data[cur:])
	}
	if n.nlink > 0 {
		m.mu.used += grow
	}
	return nil
}
