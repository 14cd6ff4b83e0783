package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// TestSyncFlushTimeout: a sync that hangs past syncFlushTimeout answers
// FLUSH_DISK_TIMEOUT (never OK), and the message is still stored.
func TestSyncFlushTimeout(t *testing.T) {
	mem := vfs.NewMem()
	var block atomic.Bool
	release := make(chan struct{})
	fs := vfs.Inject(mem, func(op vfs.Op, path string) error {
		if op == vfs.OpSyncRange && strings.Contains(path, "/commitlog/") && block.Load() {
			<-release
		}
		return nil
	})
	cfg := testConfig(fs)
	cfg.FlushDiskType = SyncFlush
	cfg.SyncFlushTimeout = 30 * time.Millisecond
	cfg.CheckpointInterval = time.Hour
	s := mustOpen(t, cfg)
	defer s.Close()
	if r := mustPut(t, s, newMsg("T", 0, "before")); r.Status != PutOK {
		t.Fatalf("status %v", r.Status)
	}
	block.Store(true)
	r := mustPut(t, s, newMsg("T", 0, "slow"))
	if r.Status != FlushDiskTimeout {
		t.Fatalf("status %v, want FlushDiskTimeout", r.Status)
	}
	block.Store(false)
	close(release)
	if r := mustPut(t, s, newMsg("T", 0, "after")); r.Status != PutOK {
		t.Fatalf("status %v after the disk recovered", r.Status)
	}
	waitDispatched(t, s)
	res := s.GetMessages("T", 0, 0, 10, 1<<20, nil, nil)
	if res.Count != 3 || string(decodeAll(t, res.Buffer)[1].Body) != "slow" {
		t.Fatalf("timed-out message not stored: %d messages", res.Count)
	}
}

// TestFailedSyncRefusesWrites: after a sync error the state of unsynced
// data is unknown, so the store refuses writes until a restart; reads go on
// and the restart recovers.
func TestFailedSyncRefusesWrites(t *testing.T) {
	for _, mode := range []FlushDiskType{SyncFlush, AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			var fail atomic.Bool
			fs := vfs.Inject(mem, func(op vfs.Op, path string) error {
				if op == vfs.OpSyncRange && strings.Contains(path, "/commitlog/") && fail.Load() {
					return errors.New("EIO")
				}
				return nil
			})
			cfg := testConfig(fs)
			cfg.FlushDiskType = mode
			s := mustOpen(t, cfg)
			mustPut(t, s, newMsg("T", 0, "one"))
			waitDispatched(t, s)
			fail.Store(true)
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := s.Put(newMsg("T", 0, "two"))
				if errors.Is(err, ErrUnavailable) {
					break
				}
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				if time.Now().After(deadline) {
					t.Fatal("writes still accepted after sync failures")
				}
				time.Sleep(time.Millisecond) // the async flusher runs every 10 ms
			}
			if res := s.GetMessages("T", 0, 0, 10, 1<<20, nil, nil); res.Count < 1 {
				t.Fatalf("reads stopped: %v", res.Status)
			}
			s.Close()
			fail.Store(false)
			s = mustOpen(t, testConfig(mem))
			defer s.Close()
			if res := s.GetMessages("T", 0, 0, 10, 1<<20, nil, nil); res.Count < 1 || string(decodeAll(t, res.Buffer)[0].Body) != "one" {
				t.Fatalf("after restart: %v %d", res.Status, res.Count)
			}
			mustPut(t, s, newMsg("T", 0, "three"))
		})
	}
}

// TestDiskFull: when a new segment cannot be allocated, puts fail with
// ErrDiskFull, stored data stays readable, and writing resumes with space.
func TestDiskFull(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(mem)
	cfg.CommitLogSegmentSize = 16 << 10
	cfg.MaxRecordSize = 4 << 10
	s := mustOpen(t, cfg)
	defer s.Close()
	mustPut(t, s, newMsg("T", 0, "first"))
	waitDispatched(t, s)
	used := usedBytes(t, mem)
	mem.SetCapacity(used + 1024) // no room for another segment
	body := string(bytes.Repeat([]byte("x"), 2000))
	var stored int
	var err error
	for i := 0; i < 20; i++ {
		if _, err = s.Put(newMsg("T", 0, body)); err != nil {
			break
		}
		stored++
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("put on a full disk: %v", err)
	}
	waitDispatched(t, s)
	if res := s.GetMessages("T", 0, 0, 64, 1<<20, nil, nil); res.Count != stored+1 {
		t.Fatalf("%d readable, %d stored", res.Count, stored+1)
	}
	mem.SetCapacity(0)
	if _, err := s.Put(newMsg("T", 0, body)); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
}

func usedBytes(t *testing.T, mem *vfs.MemFS) int64 {
	u, err := mem.DiskUsage("/store")
	if err != nil {
		t.Fatal(err)
	}
	return int64(u.Total - u.Avail)
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestRecoveryReportsTornTail: garbage after the last record is cut and
// the log says where and how much; the next record goes where it was.
func TestRecoveryReportsTornTail(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(mem)
	cfg.CheckpointInterval = time.Hour
	s := mustOpen(t, cfg)
	var last PutResult
	for i := 0; i < 5; i++ {
		last = mustPut(t, s, newMsg("T", 0, "x"))
	}
	end := last.PhysOffset + int64(last.WroteBytes)
	var crashed *vfs.MemFS // frozen: the dispatcher may still write through mappings
	s.freeze(func() { crashed = mem.CrashClone(vfs.CrashOptions{KeepUnsyncedProbability: 1}) })
	s.Close()
	f, err := crashed.Open("/store/commitlog/00000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("half a record of garbage....."), end); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
	var logs logBuffer
	cfg = testConfig(crashed)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r := mustOpen(t, cfg)
	defer r.Close()
	out := logs.String()
	if !strings.Contains(out, "did not shut down cleanly") || !strings.Contains(out, "truncated") || !strings.Contains(out, "at="+strconv.FormatInt(end, 10)) {
		t.Fatalf("recovery log does not report the torn tail:\n%s", out)
	}
	if got := r.MaxOffset("T", 0); got != 5 {
		t.Fatalf("max offset %d", got)
	}
	if res := mustPut(t, r, newMsg("T", 0, "y")); res.PhysOffset != end || res.QueueOffset != 5 {
		t.Fatalf("next put at %d/%d", res.PhysOffset, res.QueueOffset)
	}
}

// TestRecoveryWithoutCheckpoint: a lost or damaged checkpoint makes the
// store rebuild everything from the first segment.
func TestRecoveryWithoutCheckpoint(t *testing.T) {
	for _, damage := range []string{"remove", "corrupt"} {
		t.Run(damage, func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := testConfig(mem)
			s := mustOpen(t, cfg)
			for i := 0; i < 50; i++ {
				mustPut(t, s, newMsg("T", int32(i%2), "x", "KEYS", "key"))
			}
			s.Close()
			if damage == "remove" {
				mem.Remove("/store/checkpoint")
			} else {
				f, _ := mem.Open("/store/checkpoint")
				f.WriteAt([]byte{0xFF}, 20)
				f.Close()
			}
			var logs logBuffer
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			r := mustOpen(t, cfg)
			defer r.Close()
			if damage == "corrupt" && !strings.Contains(logs.String(), "checkpoint unreadable") {
				t.Fatalf("no warning:\n%s", logs.String())
			}
			if r.MaxOffset("T", 0) != 25 || r.MaxOffset("T", 1) != 25 {
				t.Fatalf("max offsets %d %d", r.MaxOffset("T", 0), r.MaxOffset("T", 1))
			}
			res, _ := r.QueryMessages("T", "key", 100, 0, 1<<62, nil)
			if res.Count != 50 {
				t.Fatalf("index rebuilt with %d of 50", res.Count)
			}
		})
	}
}

// TestIndexSurvivesCrash: after a crash the active index file's slots are
// rebuilt, so lookups find every message dispatched before and after.
func TestIndexSurvivesCrash(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(mem)
	s := mustOpen(t, cfg)
	for i := 0; i < 30; i++ {
		mustPut(t, s, newMsg("T", 0, "x", "KEYS", "a b", "UNIQ_KEY", "U"+strconv.Itoa(i)))
	}
	waitDispatched(t, s)
	if err := s.takeCheckpoint(false); err != nil {
		t.Fatal(err)
	}
	for i := 30; i < 40; i++ {
		mustPut(t, s, newMsg("T", 0, "x", "KEYS", "a b", "UNIQ_KEY", "U"+strconv.Itoa(i)))
	}
	waitDispatched(t, s)
	var crashed *vfs.MemFS
	s.freeze(func() { crashed = mem.CrashClone(vfs.CrashOptions{KeepUnsyncedProbability: 1}) })
	s.Close()
	r := mustOpen(t, testConfig(crashed))
	defer r.Close()
	for _, key := range []string{"a", "b"} {
		if res, _ := r.QueryMessages("T", key, 100, 0, 1<<62, nil); res.Count != 40 {
			t.Fatalf("key %s: %d of 40", key, res.Count)
		}
	}
	if res, _ := r.QueryMessages("T", "U35", 10, 0, 1<<62, nil); res.Count != 1 {
		t.Fatalf("uniq key: %d", res.Count)
	}
}

// TestFailedStagedWriteIsSticky: under SYNC_FLUSH a failed write of staged
// records leaves a hole in the file; every later flush must fail too, so
// no later write or checkpoint can cover the hole as if it held data.
func TestFailedStagedWriteIsSticky(t *testing.T) {
	mem := vfs.NewMem()
	var fail atomic.Bool
	fs := vfs.Inject(mem, func(op vfs.Op, path string) error {
		if op == vfs.OpWriteAt && strings.Contains(path, "/commitlog/") && !isWarmLeftover(path) && fail.Load() {
			return errors.New("EIO")
		}
		return nil
	})
	cfg := testConfig(fs)
	cfg.FlushDiskType = SyncFlush
	s := mustOpen(t, cfg)
	defer s.Close()
	mustPut(t, s, newMsg("T", 0, "one"))
	lost := s.log.written.Load()
	fail.Store(true)
	if _, err := s.Put(newMsg("T", 0, "two")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put during a failing write: %v", err)
	}
	fail.Store(false)
	for i := 0; i < 3; i++ {
		if err := s.log.flushTo(s.log.appended.Load()); err == nil {
			t.Fatalf("flush %d after a failed write succeeded", i)
		}
	}
	if got := s.log.written.Load(); got != lost {
		t.Fatalf("written moved from %d to %d over the failed write", lost, got)
	}
}
