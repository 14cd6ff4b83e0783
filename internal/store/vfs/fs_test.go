package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math"
	"path"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// fileSystems returns each FS under test with a fresh directory on it, so
// that the OS and the in-memory file system are held to the same behaviour.
func fileSystems(t *testing.T) map[string]func(t *testing.T) (FS, string) {
	return map[string]func(t *testing.T) (FS, string){
		"os": func(t *testing.T) (FS, string) { return Default, t.TempDir() },
		"mem": func(t *testing.T) (FS, string) {
			m := NewMem()
			if err := m.MkdirAll("/data/store"); err != nil {
				t.Fatal(err)
			}
			return m, "/data/store"
		},
		"inject-nil": func(t *testing.T) (FS, string) {
			return Inject(NewMem(), func(Op, string) error { return nil }), "/"
		},
	}
}

func writeFile(t *testing.T, fsys FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return buf
}

func TestFSNamespace(t *testing.T) {
	for name, newFS := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := newFS(t)
			p := func(elem ...string) string { return path.Join(append([]string{dir}, elem...)...) }

			if err := fsys.MkdirAll(p("sub", "deeper")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, fsys, p("b.dat"), []byte("bee"))
			writeFile(t, fsys, p("a.dat"), []byte("ay"))
			names, err := fsys.List(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"a.dat", "b.dat", "sub"}; !slices.Equal(names, want) {
				t.Fatalf("List = %q, want %q", names, want)
			}

			fi, err := fsys.Stat(p("b.dat"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Name != "b.dat" || fi.Size != 3 || fi.IsDir {
				t.Fatalf("Stat(b.dat) = %+v", fi)
			}
			if fi, err := fsys.Stat(p("sub")); err != nil || !fi.IsDir || fi.Name != "sub" {
				t.Fatalf("Stat(sub) = %+v, %v", fi, err)
			}

			// Rename replaces the target.
			if err := fsys.Rename(p("a.dat"), p("b.dat")); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, fsys, p("b.dat")); string(got) != "ay" {
				t.Fatalf("after rename b.dat = %q, want %q", got, "ay")
			}
			if err := fsys.Rename(p("b.dat"), p("sub", "c.dat")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Remove(p("sub")); err == nil {
				t.Fatal("Remove of a non-empty directory succeeded")
			}
			if err := fsys.Remove(p("sub", "c.dat")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.SyncDir(p("sub")); err != nil {
				t.Fatal(err)
			}
			if names, err := fsys.List(p("sub")); err != nil || !slices.Equal(names, []string{"deeper"}) {
				t.Fatalf("List(sub) = %q, %v", names, err)
			}
			if _, err := fsys.DiskUsage(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFSMissing(t *testing.T) {
	for name, newFS := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := newFS(t)
			missing := path.Join(dir, "missing")
			ops := map[string]func() error{
				"open":   func() error { _, err := fsys.Open(missing); return err },
				"create": func() error { _, err := fsys.Create(path.Join(missing, "f")); return err },
				"remove": func() error { return fsys.Remove(missing) },
				"rename": func() error { return fsys.Rename(missing, path.Join(dir, "x")) },
				"list":   func() error { _, err := fsys.List(missing); return err },
				"stat":   func() error { _, err := fsys.Stat(missing); return err },
				"sync":   func() error { return fsys.SyncDir(missing) },
			}
			for op, do := range ops {
				if err := do(); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: err = %v, want fs.ErrNotExist", op, err)
				}
			}
		})
	}
}

func TestFileReadWrite(t *testing.T) {
	for name, newFS := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := newFS(t)
			f, err := fsys.Create(path.Join(dir, "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("world"), 6); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			n, err := f.ReadAt(buf, 0)
			if n != 11 || !errors.Is(err, io.EOF) {
				t.Fatalf("ReadAt past the end = %d, %v; want 11, io.EOF", n, err)
			}
			if want := []byte("hello\x00world"); !bytes.Equal(buf[:n], want) {
				t.Fatalf("read %q, want %q", buf[:n], want)
			}
			if n, err := f.ReadAt(buf, 11); n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("ReadAt at the end = %d, %v", n, err)
			}
			// Preallocate grows but never shrinks; Truncate does both.
			for _, step := range []struct {
				op   string
				size int64
				want int64
			}{
				{"preallocate", 8192, 8192},
				{"preallocate", 100, 8192},
				{"truncate", 5, 5},
				{"truncate", 10, 10},
			} {
				if step.op == "preallocate" {
					err = f.Preallocate(step.size)
				} else {
					err = f.Truncate(step.size)
				}
				if err != nil {
					t.Fatalf("%s(%d): %v", step.op, step.size, err)
				}
				if got, err := f.Size(); err != nil || got != step.want {
					t.Fatalf("after %s(%d) size = %d, %v; want %d", step.op, step.size, got, err, step.want)
				}
			}
			// Growing after a shrink reads zeros, not the old bytes.
			if _, err := f.ReadAt(buf[:10], 0); err != nil {
				t.Fatal(err)
			}
			if want := []byte("hello\x00\x00\x00\x00\x00"); !bytes.Equal(buf[:10], want) {
				t.Fatalf("read %q, want %q", buf[:10], want)
			}
		})
	}
}

func TestFileMapRules(t *testing.T) {
	for name, newFS := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			if name == "os" && runtime.GOOS != "linux" {
				t.Skip("the OS file system maps files on Linux only")
			}
			fsys, dir := newFS(t)
			f, err := fsys.Create(path.Join(dir, "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Preallocate(8192); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Map(8193); err == nil {
				t.Fatal("Map past the end of the file succeeded")
			}
			if _, err := f.Map(0); err == nil {
				t.Fatal("Map(0) succeeded")
			}
			m, err := f.Map(8192)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 8192 {
				t.Fatalf("len(mapping) = %d", len(m))
			}
			if _, err := f.Map(4096); !errors.Is(err, ErrMapped) {
				t.Fatalf("second Map: %v, want ErrMapped", err)
			}
			if err := f.Truncate(4096); !errors.Is(err, ErrMapped) {
				t.Fatalf("Truncate of a mapped file: %v, want ErrMapped", err)
			}
			if err := f.Preallocate(16384); !errors.Is(err, ErrMapped) {
				t.Fatalf("growing Preallocate of a mapped file: %v, want ErrMapped", err)
			}
			if err := f.Preallocate(4096); err != nil {
				t.Fatalf("Preallocate within a mapped file: %v", err)
			}
			// Writes through the mapping and WriteAt see each other.
			copy(m[100:], "mapped")
			if _, err := f.WriteAt([]byte("plain"), 200); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := f.ReadAt(buf, 100); err != nil || string(buf) != "mapped" {
				t.Fatalf("ReadAt of mapped write = %q, %v", buf, err)
			}
			if string(m[200:205]) != "plain" {
				t.Fatalf("mapping shows %q after WriteAt", m[200:205])
			}
			for _, r := range [][2]int64{{0, math.MaxInt64}, {math.MaxInt64, 1}, {4096, 0}} {
				if err := f.SyncRange(r[0], r[1]); err != nil {
					t.Fatalf("SyncRange(%d, %d): %v", r[0], r[1], err)
				}
			}
			if err := f.SyncRange(-1, 1); !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("SyncRange(-1, 1): %v, want fs.ErrInvalid", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
				t.Fatalf("second Close: %v, want fs.ErrClosed", err)
			}
			if _, err := f.Size(); !errors.Is(err, fs.ErrClosed) {
				t.Fatalf("Size after Close: %v, want fs.ErrClosed", err)
			}
		})
	}
}

// TestFileZeroRange checks that ZeroRange clears exactly its range, keeps
// the size, and is durable after SyncRange (MemFS).
func TestFileZeroRange(t *testing.T) {
	for name, mk := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := mk(t)
			p := path.Join(dir, "z")
			f, err := fsys.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Preallocate(3 << 20); err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte{0xAB}, 3<<20)
			if _, err := f.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			if err := f.ZeroRange(1000, 2<<20); err != nil {
				t.Fatal(err)
			}
			if err := f.SyncRange(0, 3<<20); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 3<<20)
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(data)
			clear(want[1000 : 1000+2<<20])
			if !bytes.Equal(got, want) {
				t.Fatal("ZeroRange cleared the wrong bytes")
			}
			if size, _ := f.Size(); size != 3<<20 {
				t.Fatalf("size %d after ZeroRange", size)
			}
		})
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, DirectAlign, 1 << 20} {
		b := AlignedBuffer(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("AlignedBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		if n > 0 && uintptr(unsafe.Pointer(&b[0]))%DirectAlign != 0 {
			t.Fatalf("AlignedBuffer(%d) starts at %p, not a multiple of %d", n, &b[0], DirectAlign)
		}
	}
}
