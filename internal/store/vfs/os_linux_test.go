//go:build linux

package vfs

import (
	"bytes"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOSMappedRoundTrip(t *testing.T) {
	const size = 1 << 20
	name := filepath.Join(t.TempDir(), "00000000000000000000")
	f, err := Default.Create(name)
	mustDo(t, err)
	mustDo(t, f.Preallocate(size))
	mustDo(t, f.Sync())
	mustDo(t, Default.SyncDir(filepath.Dir(name)))
	if got, err := f.Size(); err != nil || got != size {
		t.Fatalf("Size after Preallocate = %d, %v", got, err)
	}
	m, err := f.Map(size)
	mustDo(t, err)

	want := make([]byte, size)
	writes := []struct{ off, n int }{
		{0, 100},                // first page
		{4090, 20},              // across a page boundary, unaligned start
		{size - 4096, 4096},     // last page
		{size/2 + 1, 64 << 10},  // several pages
		{size - 10, 10},         // up to the end of the mapping
		{size/4 + 7, 1},         // one byte
		{size / 8, 0},           // nothing
		{size/3 + 3, size / 16}, // long and unaligned
	}
	for i, w := range writes {
		for j := range w.n {
			want[w.off+j] = byte(i + j + 1)
		}
		copy(m[w.off:w.off+w.n], want[w.off:w.off+w.n])
		mustDo(t, f.SyncRange(int64(w.off), int64(w.n)))
	}
	// A range reaching past the mapping falls back to fdatasync.
	mustDo(t, f.SyncRange(size-10, 100))
	mustDo(t, f.Close())

	if got := readFile(t, Default, name); !bytes.Equal(got, want) {
		t.Fatal("reopened file differs from what was written through the mapping")
	}
}

func TestOSWriteAtRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tmp, final := filepath.Join(dir, "checkpoint.tmp"), filepath.Join(dir, "checkpoint")
	f, err := Default.Create(tmp)
	mustDo(t, err)
	mustDo(t, f.Preallocate(4096))
	if _, err := f.WriteAt([]byte("checkpoint v1"), 0); err != nil {
		t.Fatal(err)
	}
	mustDo(t, f.SyncRange(0, 13)) // unmapped: fdatasync
	mustDo(t, f.Truncate(13))
	mustDo(t, f.Sync())
	mustDo(t, f.Close())
	mustDo(t, Default.Rename(tmp, final))
	mustDo(t, Default.SyncDir(dir))
	if got := readFile(t, Default, final); string(got) != "checkpoint v1" {
		t.Fatalf("read back %q", got)
	}
}

func TestOSDiskUsage(t *testing.T) {
	u, err := Default.DiskUsage(t.TempDir())
	mustDo(t, err)
	if u.Total == 0 || u.Avail > u.Total {
		t.Fatalf("DiskUsage = %+v", u)
	}
	if r := u.UsedRatio(); r < 0 || r > 1 {
		t.Fatalf("UsedRatio = %v", r)
	}
}

// BenchmarkFlush64KiB compares the two ways to make a 64 KiB batch durable:
// copy into a mapping and msync its pages, or pwrite and fdatasync.
func BenchmarkFlush64KiB(b *testing.B) {
	const (
		batch = 64 << 10
		size  = 64 << 20
	)
	payload := bytes.Repeat([]byte("petrel!"), batch/7+1)[:batch]
	open := func(b *testing.B) File {
		f, err := Default.Create(filepath.Join(b.TempDir(), "commitlog"))
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Preallocate(size); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return f
	}
	b.Run("map+syncrange", func(b *testing.B) {
		f := open(b)
		m, err := f.Map(size)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(batch)
		off := 0
		for b.Loop() {
			copy(m[off:], payload)
			if err := f.SyncRange(int64(off), batch); err != nil {
				b.Fatal(err)
			}
			off = (off + batch) % size
		}
	})
	b.Run("writeat+sync", func(b *testing.B) {
		f := open(b)
		b.SetBytes(batch)
		off := 0
		for b.Loop() {
			if _, err := f.WriteAt(payload, int64(off)); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			off = (off + batch) % size
		}
	})
}

// TestOSOpenDirect: a direct-I/O handle writes aligned blocks that a
// plain handle then reads back, next to bytes written through the page
// cache, and a Sync through the plain handle covers them.
func TestOSOpenDirect(t *testing.T) {
	const size = 1 << 20
	name := filepath.Join(t.TempDir(), "segment")
	f, err := Default.Create(name)
	mustDo(t, err)
	mustDo(t, f.Preallocate(size))
	want := bytes.Repeat([]byte{0xAA}, size)
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	mustDo(t, f.Sync())
	d, err := Default.(DirectOpener).OpenDirect(name)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("the file system under the test's temporary directory has no direct I/O: %v", err)
	}
	mustDo(t, err)
	block := AlignedBuffer(64 << 10)
	if _, err := d.WriteAt(block, 4*DirectAlign); err != nil {
		t.Fatalf("direct write: %v", err)
	}
	mustDo(t, d.Close())
	mustDo(t, f.Sync())
	mustDo(t, f.Close())
	copy(want[4*DirectAlign:], block)
	if got := readFile(t, Default, name); !bytes.Equal(got, want) {
		t.Fatal("file differs from what the plain and direct handles wrote")
	}
}
