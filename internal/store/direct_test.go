package store

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// directFS is a MemFS whose direct handles on commit-log segments record
// their writes, or fail them all with EINVAL (failDirect) as a file system
// that takes O_DIRECT at open but not for a write would. Writes through
// plain handles are counted too.
type directFS struct {
	*vfs.MemFS
	failDirect bool

	mu          sync.Mutex
	direct      int // successful direct writes to segments
	plain       int // plain writes to segments
	misaligned  int // direct writes MemFS refused
	directBytes int64
}

func (d *directFS) Open(name string) (vfs.File, error) {
	f, err := d.MemFS.Open(name)
	if err != nil || !isSegment(name) {
		return f, err
	}
	return &countedFile{File: f, fs: d}, nil
}

func (d *directFS) OpenDirect(name string) (vfs.File, error) {
	f, err := d.MemFS.OpenDirect(name)
	if err != nil || !isSegment(name) {
		return f, err
	}
	return &countedFile{File: f, fs: d, direct: true}, nil
}

type countedFile struct {
	vfs.File
	fs     *directFS
	direct bool
}

func (f *countedFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !f.direct {
		f.fs.plain++
		return f.File.WriteAt(b, off)
	}
	if f.fs.failDirect {
		return 0, &fs.PathError{Op: "write", Path: "segment", Err: syscall.EINVAL}
	}
	n, err := f.File.WriteAt(b, off)
	if err != nil {
		f.fs.misaligned++
		return n, err
	}
	f.fs.direct++
	f.fs.directBytes += int64(n)
	return n, nil
}

func (d *directFS) counts() (direct, plain, misaligned int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.direct, d.plain, d.misaligned
}

// putAndCheck appends n messages of varying sizes to queue 0 of topic T
// and then checks that the queue reads back exactly bodies plus them.
func putAndCheck(t *testing.T, s *Store, bodies []string, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		k := len(bodies)
		bodies = append(bodies, fmt.Sprintf("%d-%s", k, strings.Repeat("d", k*131%3000)))
		mustPut(t, s, newMsg("T", 0, bodies[k]))
	}
	waitDispatched(t, s)
	var got []string
	for off := int64(0); off < int64(len(bodies)); {
		res := s.GetMessages("T", 0, off, 16, 1<<20, nil, nil)
		msgs := decodeAll(t, res.Buffer)
		if len(msgs) == 0 {
			t.Fatalf("no message at queue offset %d of %d (status %v)", off, len(bodies), res.Status)
		}
		for _, m := range msgs {
			got = append(got, string(m.Body))
		}
		off += int64(len(msgs))
	}
	for i := range bodies {
		if got[i] != bodies[i] {
			t.Fatalf("message %d reads back as %.20q, want %.20q", i, got[i], bodies[i])
		}
	}
	return bodies
}

// putAcrossRestart appends and checks n messages, restarts the store and
// does it again. It returns the reopened store, closed at the test's end,
// and every body appended.
func putAcrossRestart(t *testing.T, cfg Config, n int) (*Store, []string) {
	t.Helper()
	s := mustOpen(t, cfg)
	bodies := putAndCheck(t, s, nil, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	t.Cleanup(func() { s.Close() })
	return s, putAndCheck(t, s, bodies, n)
}

// TestSyncFlushWritesTheCommitLogDirect: under SYNC_FLUSH the group
// commit writes commit-log segments only through their direct handles,
// with whole aligned pages (MemFS refuses anything else, as Linux does),
// across segment rolls and a restart that resumes inside a page. With a
// tail cache smaller than a segment, reads are served both from the cache
// and from the file, and every message reads back unchanged.
func TestSyncFlushWritesTheCommitLogDirect(t *testing.T) {
	dfs := &directFS{MemFS: vfs.NewMem()}
	cfg := syncWarmConfig(dfs)
	cfg.tailCacheSize = 6 << 10
	s, bodies := putAcrossRestart(t, cfg, 60)

	direct, plain, misaligned := dfs.counts()
	if misaligned != 0 {
		t.Errorf("%d direct writes were misaligned", misaligned)
	}
	if plain != 0 {
		t.Errorf("%d commit-log writes went through the page cache", plain)
	}
	if direct < 2*len(bodies)/3 { // one per sync, each message synced on its own
		t.Errorf("only %d direct writes for %d synchronous appends", direct, len(bodies))
	}
	if s.log.files.list()[0].start == 0 && len(s.log.files.list()) < 3 {
		t.Errorf("the log did not roll: %d segments", len(s.log.files.list()))
	}
}

// TestDirectWriteFailureFallsBackToPlainWrites: a file system that opens
// files for direct I/O but refuses the writes (EINVAL) costs nothing but
// the direct path: the same bytes go through the plain handle, and
// nothing is lost, before or after a restart.
func TestDirectWriteFailureFallsBackToPlainWrites(t *testing.T) {
	dfs := &directFS{MemFS: vfs.NewMem(), failDirect: true}
	cfg := syncWarmConfig(dfs)
	putAcrossRestart(t, cfg, 40)
	if direct, plain, _ := dfs.counts(); direct != 0 || plain == 0 {
		t.Fatalf("direct %d, plain %d writes; want only plain ones", direct, plain)
	}
}
