package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"testing"
)

// memStep is one step of a crash scenario on a MemFS.
type memStep func(t *testing.T, m *MemFS)

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// durableFile creates name with contents data, fully durable.
func durableFile(name string, data []byte) memStep {
	return func(t *testing.T, m *MemFS) {
		writeFile(t, m, name, data)
		mustDo(t, m.SyncDir("/"))
	}
}

// onFile opens name and runs fn on it.
func onFile(name string, fn func(t *testing.T, f File)) memStep {
	return func(t *testing.T, m *MemFS) {
		f, err := m.Open(name)
		mustDo(t, err)
		fn(t, f)
		mustDo(t, f.Close())
	}
}

// mapped opens name, maps all of it and runs fn on the mapping. The file
// stays open, so the mapping stays valid.
func mapped(name string, fn func(t *testing.T, f File, m []byte)) memStep {
	return func(t *testing.T, fsys *MemFS) {
		f, err := fsys.Open(name)
		mustDo(t, err)
		size, err := f.Size()
		mustDo(t, err)
		m, err := f.Map(int(size))
		mustDo(t, err)
		fn(t, f, m)
	}
}

// pages returns n pages, page i filled with the byte fill+i.
func pages(n int, fill byte) []byte {
	b := make([]byte, n*crashPageSize)
	for i := range n {
		for j := range crashPageSize {
			b[i*crashPageSize+j] = fill + byte(i)
		}
	}
	return b
}

func TestCrashClone(t *testing.T) {
	zeros := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name  string
		steps []memStep
		opts  CrashOptions
		want  map[string][]byte // nil value: the file must not exist
	}{
		{
			name: "unsynced write lost",
			steps: []memStep{
				durableFile("/f", []byte("old")),
				onFile("/f", func(t *testing.T, f File) { _, err := f.WriteAt([]byte("new"), 0); mustDo(t, err) }),
			},
			want: map[string][]byte{"/f": []byte("old")},
		},
		{
			name: "synced write kept",
			steps: []memStep{
				durableFile("/f", []byte("old")),
				onFile("/f", func(t *testing.T, f File) {
					_, err := f.WriteAt([]byte("new!"), 0)
					mustDo(t, err)
					mustDo(t, f.Sync())
				}),
			},
			want: map[string][]byte{"/f": []byte("new!")},
		},
		{
			name: "sync range syncs only its range",
			steps: []memStep{
				durableFile("/f", zeros(3*crashPageSize)),
				mapped("/f", func(t *testing.T, f File, m []byte) {
					copy(m, pages(3, 'a'))
					mustDo(t, f.SyncRange(crashPageSize+10, 5))
				}),
			},
			want: map[string][]byte{"/f": func() []byte {
				b := zeros(3 * crashPageSize)
				copy(b[crashPageSize+10:crashPageSize+15], "bbbbb")
				return b
			}()},
		},
		{
			name: "sync range through a mapping",
			steps: []memStep{
				durableFile("/f", zeros(3*crashPageSize)),
				mapped("/f", func(t *testing.T, f File, m []byte) {
					copy(m, pages(3, 'a'))
					mustDo(t, f.SyncRange(crashPageSize, crashPageSize))
				}),
			},
			want: map[string][]byte{"/f": append(append(zeros(crashPageSize), pages(3, 'a')[crashPageSize:2*crashPageSize]...), zeros(crashPageSize)...)},
		},
		{
			name: "sync range past the end syncs to the end",
			steps: []memStep{
				durableFile("/f", zeros(3*crashPageSize)),
				mapped("/f", func(t *testing.T, f File, m []byte) {
					copy(m, pages(3, 'a'))
					mustDo(t, f.SyncRange(crashPageSize, math.MaxInt64))
				}),
			},
			want: map[string][]byte{"/f": append(zeros(crashPageSize), pages(3, 'a')[crashPageSize:]...)},
		},
		{
			name: "created file without dir sync disappears",
			steps: []memStep{
				func(t *testing.T, m *MemFS) { writeFile(t, m, "/f", []byte("data")) },
			},
			want: map[string][]byte{"/f": nil},
		},
		{
			name: "created file with dir sync stays",
			steps: []memStep{
				func(t *testing.T, m *MemFS) { writeFile(t, m, "/f", []byte("data")) },
				func(t *testing.T, m *MemFS) { mustDo(t, m.SyncDir("/")) },
			},
			want: map[string][]byte{"/f": []byte("data")},
		},
		{
			name: "rename not durable before dir sync",
			steps: []memStep{
				durableFile("/checkpoint", []byte("v1")),
				func(t *testing.T, m *MemFS) { writeFile(t, m, "/checkpoint.tmp", []byte("v2")) },
				func(t *testing.T, m *MemFS) { mustDo(t, m.Rename("/checkpoint.tmp", "/checkpoint")) },
			},
			want: map[string][]byte{"/checkpoint": []byte("v1"), "/checkpoint.tmp": nil},
		},
		{
			name: "rename durable after dir sync",
			steps: []memStep{
				durableFile("/checkpoint", []byte("v1")),
				func(t *testing.T, m *MemFS) { writeFile(t, m, "/checkpoint.tmp", []byte("v2")) },
				func(t *testing.T, m *MemFS) { mustDo(t, m.Rename("/checkpoint.tmp", "/checkpoint")) },
				func(t *testing.T, m *MemFS) { mustDo(t, m.SyncDir("/")) },
			},
			want: map[string][]byte{"/checkpoint": []byte("v2"), "/checkpoint.tmp": nil},
		},
		{
			name: "remove not durable before dir sync",
			steps: []memStep{
				durableFile("/f", []byte("data")),
				func(t *testing.T, m *MemFS) { mustDo(t, m.Remove("/f")) },
			},
			want: map[string][]byte{"/f": []byte("data")},
		},
		{
			name: "preallocated size not durable before sync",
			steps: []memStep{
				durableFile("/f", nil),
				onFile("/f", func(t *testing.T, f File) { mustDo(t, f.Preallocate(8192)) }),
			},
			want: map[string][]byte{"/f": {}},
		},
		{
			name: "preallocated size durable after sync",
			steps: []memStep{
				durableFile("/f", nil),
				onFile("/f", func(t *testing.T, f File) { mustDo(t, f.Preallocate(8192)); mustDo(t, f.Sync()) }),
			},
			want: map[string][]byte{"/f": zeros(8192)},
		},
		{
			name: "sync range does not make the size durable",
			steps: []memStep{
				durableFile("/f", nil),
				onFile("/f", func(t *testing.T, f File) { mustDo(t, f.Preallocate(8192)) }),
				mapped("/f", func(t *testing.T, f File, m []byte) {
					copy(m, "record")
					mustDo(t, f.SyncRange(0, 8192))
				}),
			},
			want: map[string][]byte{"/f": {}},
		},
		{
			name: "truncate not durable before sync",
			steps: []memStep{
				durableFile("/f", []byte("0123456789")),
				onFile("/f", func(t *testing.T, f File) { mustDo(t, f.Truncate(4)) }),
			},
			want: map[string][]byte{"/f": []byte("0123456789")},
		},
		{
			name: "mkdirall durable at once",
			steps: []memStep{
				func(t *testing.T, m *MemFS) { mustDo(t, m.MkdirAll("/store/commitlog")) },
				func(t *testing.T, m *MemFS) { writeFile(t, m, "/store/commitlog/00000000000000000000", []byte("x")) },
				func(t *testing.T, m *MemFS) { mustDo(t, m.SyncDir("/store/commitlog")) },
			},
			want: map[string][]byte{"/store/commitlog/00000000000000000000": []byte("x")},
		},
		{
			name: "keep probability 1 keeps everything written within the durable size",
			steps: []memStep{
				durableFile("/f", zeros(4*crashPageSize)),
				mapped("/f", func(t *testing.T, f File, m []byte) { copy(m, pages(4, 'a')) }),
				durableFile("/g", []byte("ab")),
				onFile("/g", func(t *testing.T, f File) { _, err := f.WriteAt([]byte("XYZW"), 0); mustDo(t, err) }),
			},
			opts: CrashOptions{KeepUnsyncedProbability: 1},
			want: map[string][]byte{"/f": pages(4, 'a'), "/g": []byte("XY")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			for _, step := range tt.steps {
				step(t, m)
			}
			crashed := m.CrashClone(tt.opts)
			for name, want := range tt.want {
				if want == nil {
					if _, err := crashed.Stat(name); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("%s after crash: Stat err = %v, want fs.ErrNotExist", name, err)
					}
					continue
				}
				if got := readFile(t, crashed, name); !bytes.Equal(got, want) {
					t.Errorf("%s after crash = %.40q (%d bytes), want %.40q (%d bytes)", name, got, len(got), want, len(want))
				}
			}
		})
	}
}

// keptPages crashes a file whose 64 pages all differ from their synced
// contents and reports which pages survived.
func keptPages(t *testing.T, m *MemFS, opts CrashOptions) []bool {
	t.Helper()
	got := readFile(t, m.CrashClone(opts), "/f")
	kept := make([]bool, len(got)/crashPageSize)
	for i := range kept {
		page := got[i*crashPageSize : (i+1)*crashPageSize]
		switch {
		case bytes.Equal(page, make([]byte, crashPageSize)):
		case bytes.Equal(page, bytes.Repeat([]byte{'x'}, crashPageSize)):
			kept[i] = true
		default:
			t.Fatalf("page %d torn inside the page", i)
		}
	}
	return kept
}

func TestCrashCloneKeepsSeededPages(t *testing.T) {
	const n = 64
	m := NewMem()
	durableFile("/f", make([]byte, n*crashPageSize))(t, m)
	mapped("/f", func(t *testing.T, f File, b []byte) { copy(b, bytes.Repeat([]byte{'x'}, len(b))) })(t, m)

	half := CrashOptions{KeepUnsyncedProbability: 0.5, Seed: 1}
	first := keptPages(t, m, half)
	count := 0
	for _, k := range first {
		if k {
			count++
		}
	}
	if count == 0 || count == n {
		t.Fatalf("probability 0.5 kept %d of %d pages", count, n)
	}
	if again := keptPages(t, m, half); !equalBools(again, first) {
		t.Fatal("the same seed kept different pages")
	}
	if other := keptPages(t, m, CrashOptions{KeepUnsyncedProbability: 0.5, Seed: 2}); equalBools(other, first) {
		t.Fatal("seeds 1 and 2 kept the same pages")
	}
	for _, k := range keptPages(t, m, CrashOptions{}) {
		if k {
			t.Fatal("probability 0 kept an unsynced page")
		}
	}
}

func equalBools(a, b []bool) bool { return bytes.Equal(boolBytes(a), boolBytes(b)) }

func boolBytes(bs []bool) []byte {
	out := make([]byte, len(bs))
	for i, b := range bs {
		if b {
			out[i] = 1
		}
	}
	return out
}

func TestCrashCloneIsIndependent(t *testing.T) {
	m := NewMem()
	durableFile("/f", make([]byte, crashPageSize))(t, m)
	f, err := m.Open("/f")
	mustDo(t, err)
	defer f.Close()
	mapping, err := f.Map(crashPageSize)
	mustDo(t, err)
	copy(mapping, "before")
	mustDo(t, f.SyncRange(0, 6))

	crashed := m.CrashClone(CrashOptions{})
	copy(mapping, "after!") // the original keeps working
	mustDo(t, f.SyncRange(0, 6))
	if got := readFile(t, crashed, "/f")[:6]; string(got) != "before" {
		t.Fatalf("clone changed with the original: %q", got)
	}

	// The clone's file is not mapped: it can be resized and mapped anew.
	cf, err := crashed.Open("/f")
	mustDo(t, err)
	defer cf.Close()
	mustDo(t, cf.Truncate(2*crashPageSize))
	cm, err := cf.Map(2 * crashPageSize)
	mustDo(t, err)
	copy(cm, "clone!")
	if got := readFile(t, m, "/f")[:6]; string(got) != "after!" {
		t.Fatalf("original changed with the clone: %q", got)
	}
	// And it crashes again like any MemFS: the resize was never synced.
	if got := readFile(t, crashed.CrashClone(CrashOptions{}), "/f"); len(got) != crashPageSize || string(got[:6]) != "before" {
		t.Fatalf("second crash: %d bytes starting %q", len(got), got[:6])
	}
}
