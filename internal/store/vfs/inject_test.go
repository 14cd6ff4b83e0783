package vfs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestInject(t *testing.T) {
	errInjected := errors.New("injected")
	fileOp := func(do func(f File) error) func(fsys FS) error {
		return func(fsys FS) error {
			f, err := fsys.Open("/dir/f")
			if err != nil {
				return err
			}
			defer f.Close()
			return do(f)
		}
	}
	tests := []struct {
		op   Op
		path string
		do   func(fsys FS) error
	}{
		{OpCreate, "/dir/new", func(fsys FS) error { _, err := fsys.Create("/dir/new"); return err }},
		{OpOpen, "/dir/f", func(fsys FS) error { _, err := fsys.Open("/dir/f"); return err }},
		{OpRemove, "/dir/f", func(fsys FS) error { return fsys.Remove("/dir/f") }},
		{OpRename, "/dir/f", func(fsys FS) error { return fsys.Rename("/dir/f", "/dir/g") }},
		{OpMkdirAll, "/other", func(fsys FS) error { return fsys.MkdirAll("/other") }},
		{OpList, "/dir", func(fsys FS) error { _, err := fsys.List("/dir"); return err }},
		{OpStat, "/dir/f", func(fsys FS) error { _, err := fsys.Stat("/dir/f"); return err }},
		{OpSyncDir, "/dir", func(fsys FS) error { return fsys.SyncDir("/dir") }},
		{OpDiskUsage, "/dir", func(fsys FS) error { _, err := fsys.DiskUsage("/dir"); return err }},
		{OpReadAt, "/dir/f", fileOp(func(f File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err })},
		{OpWriteAt, "/dir/f", fileOp(func(f File) error { _, err := f.WriteAt([]byte("x"), 0); return err })},
		{OpSync, "/dir/f", fileOp(func(f File) error { return f.Sync() })},
		{OpSyncRange, "/dir/f", fileOp(func(f File) error { return f.SyncRange(0, 1) })},
		{OpPreallocate, "/dir/f", fileOp(func(f File) error { return f.Preallocate(10) })},
		{OpTruncate, "/dir/f", fileOp(func(f File) error { return f.Truncate(1) })},
		{OpSize, "/dir/f", fileOp(func(f File) error { _, err := f.Size(); return err })},
		{OpMap, "/dir/f", fileOp(func(f File) error { _, err := f.Map(1); return err })},
		{OpZeroRange, "/dir/f", fileOp(func(f File) error { return f.ZeroRange(0, 1) })},
		{OpClose, "/dir/f", func(fsys FS) error {
			f, err := fsys.Open("/dir/f")
			if err != nil {
				return err
			}
			return f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			newFS := func(failing Op) FS {
				m := NewMem()
				mustDo(t, m.MkdirAll("/dir"))
				writeFile(t, m, "/dir/f", []byte("data"))
				return Inject(m, func(op Op, path string) error {
					if op == failing && path == tt.path {
						return errInjected
					}
					return nil
				})
			}
			if err := tt.do(newFS(0)); err != nil {
				t.Fatalf("without injection: %v", err)
			}
			if err := tt.do(newFS(tt.op)); !errors.Is(err, errInjected) {
				t.Fatalf("with injection: err = %v, want the injected error", err)
			}
		})
	}
}

func TestInjectedCloseStillCloses(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "/f", []byte("data"))
	errInjected := errors.New("injected")
	fsys := Inject(m, func(op Op, _ string) error {
		if op == OpClose {
			return errInjected
		}
		return nil
	})
	f, err := fsys.Open("/f")
	mustDo(t, err)
	inner := f.(*injectFile).file
	if err := f.Close(); !errors.Is(err, errInjected) {
		t.Fatalf("Close = %v, want the injected error", err)
	}
	if _, err := inner.Size(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("inner file after a failed Close: %v, want fs.ErrClosed", err)
	}
}

func TestOpString(t *testing.T) {
	if got := OpSyncRange.String(); got != "syncrange" {
		t.Fatalf("OpSyncRange.String() = %q", got)
	}
	if got := Op(99).String(); got != "Op(99)" {
		t.Fatalf("Op(99).String() = %q", got)
	}
}
