package vfs

import (
	"errors"
	"fmt"
)

// Op names an operation of FS or File, for an Injector.
type Op int

// The operations an Injector is asked about. Writes through a mapping are
// plain memory writes and cannot be intercepted.
const (
	OpCreate Op = iota + 1
	OpOpen
	OpRemove
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpSyncDir
	OpDiskUsage
	OpReadAt
	OpWriteAt
	OpClose
	OpSync
	OpSyncRange
	OpPreallocate
	OpTruncate
	OpSize
	OpMap
	OpZeroRange
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpRemove: "remove", OpRename: "rename",
	OpMkdirAll: "mkdirall", OpList: "list", OpStat: "stat", OpSyncDir: "syncdir",
	OpDiskUsage: "diskusage", OpReadAt: "readat", OpWriteAt: "writeat", OpClose: "close",
	OpSync: "sync", OpSyncRange: "syncrange", OpPreallocate: "preallocate",
	OpTruncate: "truncate", OpSize: "size", OpMap: "map", OpZeroRange: "zerorange",
}

// String returns the operation's lower-case name, such as "syncrange".
func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Injector decides whether an operation fails: it is called before each
// operation with the path it concerns (for Rename the old name; for a File
// operation the name the file was opened with) and a non-nil error is
// returned instead of doing the operation. It may be called from several
// goroutines at once.
type Injector func(op Op, path string) error

// Inject returns fs with errors from inj injected before each operation,
// including the operations of the files it opens. A Close that inj fails
// still closes the file, so that a test leaks nothing.
func Inject(fs FS, inj Injector) FS {
	return &injectFS{fs: fs, inj: inj}
}

type injectFS struct {
	fs  FS
	inj Injector
}

func (i *injectFS) Create(name string) (File, error) {
	if err := i.inj(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := i.fs.Create(name)
	if err != nil {
		return nil, err
	}
	return &injectFile{file: f, name: name, inj: i.inj}, nil
}

func (i *injectFS) Open(name string) (File, error) {
	if err := i.inj(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := i.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return &injectFile{file: f, name: name, inj: i.inj}, nil
}

// OpenDirect implements DirectOpener when the wrapped file system does;
// the injector is asked with OpOpen, and the handle's writes with
// OpWriteAt.
func (i *injectFS) OpenDirect(name string) (File, error) {
	d, ok := i.fs.(DirectOpener)
	if !ok {
		return nil, fmt.Errorf("vfs: open %s for direct I/O: %w", name, errors.ErrUnsupported)
	}
	if err := i.inj(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := d.OpenDirect(name)
	if err != nil {
		return nil, err
	}
	return &injectFile{file: f, name: name, inj: i.inj}, nil
}

func (i *injectFS) Remove(name string) error {
	if err := i.inj(OpRemove, name); err != nil {
		return err
	}
	return i.fs.Remove(name)
}

func (i *injectFS) Rename(oldname, newname string) error {
	if err := i.inj(OpRename, oldname); err != nil {
		return err
	}
	return i.fs.Rename(oldname, newname)
}

func (i *injectFS) MkdirAll(dir string) error {
	if err := i.inj(OpMkdirAll, dir); err != nil {
		return err
	}
	return i.fs.MkdirAll(dir)
}

func (i *injectFS) List(dir string) ([]string, error) {
	if err := i.inj(OpList, dir); err != nil {
		return nil, err
	}
	return i.fs.List(dir)
}

func (i *injectFS) Stat(name string) (FileInfo, error) {
	if err := i.inj(OpStat, name); err != nil {
		return FileInfo{}, err
	}
	return i.fs.Stat(name)
}

func (i *injectFS) SyncDir(dir string) error {
	if err := i.inj(OpSyncDir, dir); err != nil {
		return err
	}
	return i.fs.SyncDir(dir)
}

func (i *injectFS) DiskUsage(path string) (DiskUsage, error) {
	if err := i.inj(OpDiskUsage, path); err != nil {
		return DiskUsage{}, err
	}
	return i.fs.DiskUsage(path)
}

type injectFile struct {
	file File
	name string
	inj  Injector
}

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj(OpReadAt, f.name); err != nil {
		return 0, err
	}
	return f.file.ReadAt(p, off)
}

func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.inj(OpWriteAt, f.name); err != nil {
		return 0, err
	}
	return f.file.WriteAt(p, off)
}

func (f *injectFile) Close() error {
	injected := f.inj(OpClose, f.name)
	err := f.file.Close()
	if injected != nil {
		return injected
	}
	return err
}

func (f *injectFile) Sync() error {
	if err := f.inj(OpSync, f.name); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *injectFile) SyncRange(off, n int64) error {
	if err := f.inj(OpSyncRange, f.name); err != nil {
		return err
	}
	return f.file.SyncRange(off, n)
}

func (f *injectFile) Preallocate(size int64) error {
	if err := f.inj(OpPreallocate, f.name); err != nil {
		return err
	}
	return f.file.Preallocate(size)
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.inj(OpTruncate, f.name); err != nil {
		return err
	}
	return f.file.Truncate(size)
}

func (f *injectFile) ZeroRange(off, n int64) error {
	if err := f.inj(OpZeroRange, f.name); err != nil {
		return err
	}
	return f.file.ZeroRange(off, n)
}

func (f *injectFile) Size() (int64, error) {
	if err := f.inj(OpSize, f.name); err != nil {
		return 0, err
	}
	return f.file.Size()
}

func (f *injectFile) Map(size int) ([]byte, error) {
	if err := f.inj(OpMap, f.name); err != nil {
		return nil, err
	}
	return f.file.Map(size)
}
