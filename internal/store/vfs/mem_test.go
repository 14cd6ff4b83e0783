package vfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestMemCapacity(t *testing.T) {
	m := NewMem()
	if u, err := m.DiskUsage("/"); err != nil || u.Total != unlimitedTotal || u.Avail != unlimitedTotal {
		t.Fatalf("unlimited DiskUsage = %+v, %v", u, err)
	}
	m.SetCapacity(10000)
	a, err := m.Create("/a")
	mustDo(t, err)
	defer a.Close()
	mustDo(t, a.Preallocate(8192))
	mustDo(t, a.Sync())

	usage := func(wantAvail uint64) {
		t.Helper()
		u, err := m.DiskUsage("/")
		if err != nil || u.Total != 10000 || u.Avail != wantAvail {
			t.Fatalf("DiskUsage = %+v, %v; want Total 10000, Avail %d", u, err, wantAvail)
		}
	}
	usage(1808)

	b, err := m.Create("/b")
	mustDo(t, err)
	defer b.Close()
	full := []struct {
		name string
		do   func() error
	}{
		{"preallocate", func() error { return b.Preallocate(2000) }},
		{"write", func() error { _, err := a.WriteAt(make([]byte, 2000), 8192); return err }},
		{"truncate", func() error { return a.Truncate(10001) }},
	}
	for _, op := range full {
		if err := op.do(); !IsNoSpace(err) || !errors.Is(err, ErrNoSpace) {
			t.Errorf("%s past capacity: err = %v, want ErrNoSpace", op.name, err)
		}
	}
	// Failed operations changed nothing.
	if size, _ := a.Size(); size != 8192 {
		t.Fatalf("a's size = %d after failed growth", size)
	}
	if got := readFile(t, m, "/a"); !bytes.Equal(got, make([]byte, 8192)) {
		t.Fatal("a's data changed by a failed write")
	}
	usage(1808)

	mustDo(t, b.Preallocate(1808)) // exactly full
	usage(0)
	mustDo(t, a.Truncate(4096))
	usage(4096)
	mustDo(t, m.Remove("/b"))
	usage(5904)
	// A removed file no longer counts, even while open.
	if _, err := b.WriteAt(make([]byte, 9000), 0); err != nil {
		t.Fatalf("write to a removed open file: %v", err)
	}
	usage(5904)
	mustDo(t, m.Rename("/a", "/c"))
	usage(5904)
}

func TestMemModTime(t *testing.T) {
	m := NewMem()
	var clock atomic.Int64
	m.SetNow(func() time.Time { return time.Unix(clock.Load(), 0) })
	mtime := func() int64 {
		t.Helper()
		fi, err := m.Stat("/f")
		mustDo(t, err)
		return fi.ModTime.Unix()
	}
	tick := func() { clock.Add(1) }

	tick()
	f, err := m.Create("/f")
	mustDo(t, err)
	defer f.Close()
	steps := []struct {
		name string
		do   func() error
		want int64 // the clock is at step index + 2 when do runs
	}{
		{"write", func() error { _, err := f.WriteAt([]byte("x"), 0); return err }, 2},
		{"preallocate", func() error { return f.Preallocate(8192) }, 3},
		{"truncate", func() error { return f.Truncate(4096) }, 4},
		{"sync of an unmapped file", f.Sync, 4},
		{"map", func() error { _, err := f.Map(4096); return err }, 4},
		{"sync range of a mapped file", func() error { return f.SyncRange(0, 1) }, 7},
		{"sync of a mapped file", f.Sync, 8},
	}
	for _, s := range steps {
		tick()
		mustDo(t, s.do())
		if got := mtime(); got != s.want {
			t.Fatalf("after %s ModTime = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	mustDo(t, m.MkdirAll("/d/e"))
	writeFile(t, m, "/f", []byte("x"))
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create over a directory", func() error { _, err := m.Create("/d"); return err }, syscall.EISDIR},
		{"open a directory", func() error { _, err := m.Open("/d"); return err }, syscall.EISDIR},
		{"create under a file", func() error { _, err := m.Create("/f/g"); return err }, syscall.ENOTDIR},
		{"mkdir over a file", func() error { return m.MkdirAll("/f/g") }, syscall.ENOTDIR},
		{"list a file", func() error { _, err := m.List("/f"); return err }, syscall.ENOTDIR},
		{"remove a non-empty directory", func() error { return m.Remove("/d") }, syscall.ENOTEMPTY},
		{"rename a file over a directory", func() error { return m.Rename("/f", "/d") }, syscall.EISDIR},
		{"rename a directory over a file", func() error { return m.Rename("/d", "/f") }, syscall.ENOTDIR},
		{"rename a directory into itself", func() error { return m.Rename("/d", "/d/e/x") }, syscall.EINVAL},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// A directory moves with its contents.
	mustDo(t, m.Rename("/d", "/moved"))
	if fi, err := m.Stat("/moved/e"); err != nil || !fi.IsDir {
		t.Fatalf("Stat(/moved/e) = %+v, %v", fi, err)
	}
}

// TestMemSyncRangeWhileMappedWrites runs the store's pattern under the race
// detector: one goroutine appends through a mapping above offset X while
// another writes and syncs records below X and a third takes crash clones,
// which must hold every record synced before they started.
func TestMemSyncRangeWhileMappedWrites(t *testing.T) {
	const (
		x       = 16 * crashPageSize
		size    = 2 * x
		record  = 64
		records = x / record
	)
	m := NewMem()
	durableFile("/commitlog", make([]byte, size))(t, m)
	f, err := m.Open("/commitlog")
	mustDo(t, err)
	defer f.Close()
	mapping, err := f.Map(size)
	mustDo(t, err)

	var synced atomic.Int64 // records durable so far
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // writer above X
		defer wg.Done()
		for round := range 4 {
			for i := x; i < size; i++ {
				mapping[i] = byte(round + i)
			}
		}
	}()
	go func() { // writer and syncer below X
		defer wg.Done()
		for i := range records {
			off := i * record
			binary.BigEndian.PutUint64(mapping[off:], uint64(i+1))
			if err := f.SyncRange(int64(off), record); err != nil {
				t.Error(err)
				return
			}
			synced.Store(int64(i + 1))
		}
	}()
	errs := make(chan error, 1)
	go func() { // crasher
		defer wg.Done()
		for done := int64(0); done < records; {
			done = synced.Load()
			data, err := readAll(m.CrashClone(CrashOptions{}), "/commitlog")
			if err != nil {
				errs <- err
				return
			}
			for i := range done {
				if got := binary.BigEndian.Uint64(data[i*record:]); got != uint64(i+1) {
					errs <- errors.New("a synced record is missing after a crash")
					return
				}
			}
			if !bytes.Equal(data[x:], make([]byte, size-x)) {
				errs <- errors.New("unsynced bytes above X survived a crash")
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// readAll reads a whole file, for goroutines that cannot call t.Fatal.
func readAll(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}
