package store

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

func syncWarmConfig(fs vfs.FS) Config {
	cfg := testConfig(fs)
	cfg.FlushDiskType = SyncFlush
	cfg.CommitLogSegmentSize = 16 << 10
	cfg.MaxRecordSize = 4 << 10
	cfg.CommitLogDir = cfg.Dir + "/commitlog"
	return cfg
}

// waitUntil polls cond: the warmer runs on its own goroutine, and these
// tests wait for its state rather than for time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func warmReady(s *Store) int64 {
	w := s.log.files.warmer
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ready
}

func listDir(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// fillSegments puts 700-byte messages until the log has reached n segments,
// and returns how many it put.
func fillSegments(t *testing.T, s *Store, n int) int {
	t.Helper()
	body := string(bytes.Repeat([]byte("w"), 700))
	put := 0
	for len(s.log.files.list()) < n {
		if r := mustPut(t, s, newMsg("T", 0, body)); r.Status != PutOK {
			t.Fatalf("put %d: %v", put, r.Status)
		}
		put++
	}
	return put
}

// TestWarmedSegmentIsTakenAtRoll: under SYNC_FLUSH the next segment is
// prepared (zeroed) ahead, the roll renames it into place, the one after
// is prepared next, and the data written into warmed segments reads back
// across a reopen.
func TestWarmedSegmentIsTakenAtRoll(t *testing.T) {
	fs := vfs.NewMem()
	cfg := syncWarmConfig(fs)
	s := mustOpen(t, cfg)
	size := cfg.CommitLogSegmentSize
	if got := warmReady(s); got != 0 {
		t.Fatalf("Open returned before a new store's first segment was warmed (ready %d)", got)
	}
	mustPut(t, s, newMsg("T", 0, "first"))
	waitUntil(t, "the second segment to be warmed", func() bool { return warmReady(s) == size })
	// A roll does not wait for warming, so the test lets each segment be
	// warmed before the log reaches it.
	put := 1 + fillSegments(t, s, 2)
	waitUntil(t, "the third segment to be warmed", func() bool { return warmReady(s) == 2*size })
	put += fillSegments(t, s, 3)
	waitUntil(t, "the fourth segment to be warmed", func() bool { return warmReady(s) == 3*size })
	names := listDir(t, fs, cfg.CommitLogDir)
	want := []string{fileName(0), fileName(size), fileName(2 * size), fileName(3*size) + warmSuffix}
	if !slices.Equal(names, want) {
		t.Fatalf("commit-log dir holds %v, want %v", names, want)
	}
	if n := s.log.files.warmer.taken.Load(); n != 3 {
		t.Fatalf("%d warmed segments taken, want 3", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, fs, cfg.CommitLogDir); slices.ContainsFunc(got, isWarmLeftover) {
		t.Fatalf("close left a prepared segment behind: %v", got)
	}
	s = mustOpen(t, cfg)
	defer s.Close()
	if res := s.GetMessages("T", 0, 0, 1000, 1<<20, nil, nil); res.Count != put {
		t.Fatalf("after reopen: %d messages, want %d", res.Count, put)
	}
}

// TestWarmLeftoverRemovedAtOpen: a crash while a segment was being
// prepared leaves a *.warming file; Open deletes it instead of refusing
// the directory.
func TestWarmLeftoverRemovedAtOpen(t *testing.T) {
	fs := vfs.NewMem()
	cfg := syncWarmConfig(fs)
	cfg.FlushDiskType = AsyncFlush // nothing re-creates it
	if err := fs.MkdirAll(cfg.CommitLogDir); err != nil {
		t.Fatal(err)
	}
	stray := path.Join(cfg.CommitLogDir, fileName(cfg.CommitLogSegmentSize)+warmSuffix)
	f, err := fs.Create(stray)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := mustOpen(t, cfg)
	defer s.Close()
	if _, err := fs.Stat(stray); err == nil {
		t.Fatalf("%s survived Open", stray)
	}
	mustPut(t, s, newMsg("T", 0, "after"))
}

// TestRollTakesSegmentStillWarming: a roll that reaches a segment while
// it is still being zeroed does not wait for the whole file: the warmer
// stops after its current write and the roll takes the file as it is.
func TestRollTakesSegmentStillWarming(t *testing.T) {
	var block atomic.Bool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	fs := vfs.Inject(vfs.NewMem(), func(op vfs.Op, name string) error {
		if op == vfs.OpWriteAt && strings.HasSuffix(name, warmSuffix) && block.Load() {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	})
	cfg := syncWarmConfig(fs)
	cfg.CommitLogSegmentSize = 4 << 20 // more than one warm chunk
	s := mustOpen(t, cfg)
	defer s.Close()
	waitUntil(t, "the first segment to be warmed", func() bool { return warmReady(s) == 0 })
	block.Store(true)
	mustPut(t, s, newMsg("T", 0, "first")) // requests the second segment
	<-entered
	done := make(chan int, 1)
	go func() { done <- fillSegments(t, s, 2) }()
	waitUntil(t, "the roll to ask for the busy segment", func() bool { return s.log.files.warmer.cancelled() })
	block.Store(false)
	close(release)
	put := 1 + <-done
	if n := s.log.files.warmer.taken.Load(); n != 2 {
		t.Fatalf("%d warmed segments taken, want 2 (the second one still warming)", n)
	}
	if got := s.log.files.list()[1].start; got != cfg.CommitLogSegmentSize {
		t.Fatalf("second segment starts at %d", got)
	}
	waitDispatched(t, s)
	if res := s.GetMessages("T", 0, 0, 100000, 64<<20, nil, nil); res.Count != put {
		t.Fatalf("%d messages read back, want %d", res.Count, put)
	}
}

// TestWarmerZeroesWithDirectIO: on the operating system's file system the
// warmer's zeros go out with direct I/O (where the file system under the
// test's directory has it), and the whole file reads back as zeros.
func TestWarmerZeroesWithDirectIO(t *testing.T) {
	dir := t.TempDir()
	const size = 4<<20 + 512 // an unaligned tail goes through the plain handle
	w := newSegmentWarmer(vfs.Default, dir, size, testConfig(vfs.Default).Logger)
	p := w.tmpPath(0)
	f, err := vfs.Default.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Preallocate(size); err != nil {
		t.Fatal(err)
	}
	zw := w.openZeroWriter(p, f)
	defer zw.close()
	if zw.direct == nil {
		t.Skip("no direct I/O on the file system under the test's temporary directory")
	}
	junk := bytes.Repeat([]byte{0xEE}, size)
	if _, err := f.WriteAt(junk, 0); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < size; off += warmChunk {
		n := min(int64(warmChunk), size-off)
		if err := zw.write(zeroBlock[:n], off); err != nil {
			t.Fatalf("zero at %d: %v", off, err)
		}
	}
	if zw.direct == nil {
		t.Fatal("a direct write failed and the writer fell back to the page cache")
	}
	got := make([]byte, size)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(got, func(b byte) bool { return b != 0 }); i >= 0 {
		t.Fatalf("byte %d is %#x after warming, want 0", i, got[i])
	}
}

// TestWarmerWritesAChunkOnEachTurn: pacing spreads the zeros over the time
// the log takes to reach the segment, but a completed sync (diskIdle) lets
// the next chunk through at once, while the disk has nothing else to do.
func TestWarmerWritesAChunkOnEachTurn(t *testing.T) {
	var zeroWrites atomic.Int64
	fs := vfs.Inject(vfs.NewMem(), func(op vfs.Op, p string) error {
		if op == vfs.OpWriteAt && strings.HasSuffix(p, warmSuffix) {
			zeroWrites.Add(1)
		}
		return nil
	})
	const size = 64 * warmChunk
	w := newSegmentWarmer(fs, "/log", size, testConfig(fs).Logger)
	if err := fs.MkdirAll("/log"); err != nil {
		t.Fatal(err)
	}
	// The segment being warmed is a terabyte past the log's end, so the
	// pacer rests for hours between chunks whatever the log's pace (which
	// it needs to see grow: each look at the log's end finds a byte more).
	var logEnd, looks atomic.Int64
	w.appended = func() int64 { return logEnd.Load() + looks.Add(1) }
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { w.run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	w.request(1 << 40)
	waitUntil(t, "the first chunk", func() bool { return zeroWrites.Load() >= 1 })
	for turn := int64(1); turn <= 3; turn++ {
		logEnd.Store(turn * warmChunk) // the log grows by a chunk a turn
		before := zeroWrites.Load()
		w.diskIdle()
		waitUntil(t, fmt.Sprintf("the chunk of turn %d", turn), func() bool { return zeroWrites.Load() > before })
	}
	if n := zeroWrites.Load(); n >= size/warmChunk {
		t.Fatalf("the whole segment was zeroed (%d writes): the pacer did not rest", n)
	}
}

// TestWarmerTurnsKeepToTwiceTheLogsPace: a turn comes with every sync, so
// turns may zero at most twice what the log has grown since warming began
// (plus a chunk); beyond that only the pacer writes.
func TestWarmerTurnsKeepToTwiceTheLogsPace(t *testing.T) {
	w := newSegmentWarmer(vfs.NewMem(), "/log", 64*warmChunk, testConfig(vfs.NewMem()).Logger)
	var logEnd atomic.Int64
	logEnd.Store(1000)
	w.appended = logEnd.Load
	pc := w.newPacer(1 << 40)
	logEnd.Store(1000 + 3*warmChunk)
	for _, tc := range []struct {
		done int64
		want bool
	}{{warmChunk, true}, {7 * warmChunk, true}, {7*warmChunk + 1, false}, {20 * warmChunk, false}} {
		if got := pc.turnAllowed(tc.done); got != tc.want {
			t.Errorf("log grown by 3 chunks, %d bytes zeroed: turn allowed %v, want %v", tc.done, got, tc.want)
		}
	}
}
