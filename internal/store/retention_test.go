package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// retentionStore writes 5 segments' worth of messages to queue T/0 and
// T/1, spread over simulated time, and checkpoints.
func retentionStore(t *testing.T) (*Store, *vfs.MemFS, *fakeClock) {
	clock := &fakeClock{now: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	mem := vfs.NewMem()
	mem.SetNow(clock.Now)
	cfg := testConfig(mem)
	cfg.Now = clock.Now
	cfg.CommitLogSegmentSize = 16 << 10
	cfg.MaxRecordSize = 4 << 10
	cfg.ConsumeQueueEntries = 16
	cfg.IndexMaxEntries = 32
	cfg.FileReservedTime = 72 * time.Hour
	cfg.CheckpointInterval = time.Hour
	s := mustOpen(t, cfg)
	body := string(bytes.Repeat([]byte("r"), 1000))
	for i := 0; s.log.files.last() == nil || len(s.log.files.list()) < 5; i++ {
		mustPut(t, s, newMsg("T", int32(i%2), body, "KEYS", "k"))
		if i%10 == 0 {
			waitDispatched(t, s)
			if err := s.takeCheckpoint(false); err != nil { // stamps segment mtimes via sync
				t.Fatal(err)
			}
			clock.Add(time.Hour)
		}
	}
	waitDispatched(t, s)
	if err := s.takeCheckpoint(false); err != nil {
		t.Fatal(err)
	}
	return s, mem, clock
}

func TestRetention(t *testing.T) {
	s, mem, clock := retentionStore(t)
	defer s.Close()
	segments := len(s.log.files.list())

	// Not the deleteWhen hour and plenty of space: nothing happens.
	clock.Add(100 * time.Hour)
	clock.now = time.Date(2026, 11, 6, 10, 0, 0, 0, time.UTC)
	rep, err := s.Clean()
	if err != nil || rep.DeletedSegments != 0 {
		t.Fatalf("off-hour clean: %+v %v", rep, err)
	}
	// At 04:00 expired segments go, never the last one.
	clock.now = time.Date(2026, 11, 7, 4, 0, 0, 0, time.UTC)
	rep, err = s.Clean()
	if err != nil || rep.DeletedSegments != segments-1 {
		t.Fatalf("04:00 clean of %d segments: %+v %v", segments, rep, err)
	}
	min := s.MinOffset("T", 0)
	if min == 0 {
		t.Fatal("queue min offset did not advance")
	}
	res := s.GetMessages("T", 0, 0, 10, 1<<20, nil, nil)
	if res.Status != OffsetTooSmall || res.NextBeginOffset != min {
		t.Fatalf("read below min: %v next %d (min %d)", res.Status, res.NextBeginOffset, min)
	}
	res = s.GetMessages("T", 0, min, 10, 1<<20, nil, nil)
	if res.Status != Found {
		t.Fatalf("read at min: %v", res.Status)
	}
	if ts, err := s.EarliestStoreTime("T", 0); err != nil || ts < 0 {
		t.Fatalf("earliest after retention: %d %v", ts, err)
	}
	// The queue keeps its position after a restart.
	max := s.MaxOffset("T", 0)
	s.Close()
	cfg := s.cfg
	r := mustOpen(t, cfg)
	defer r.Close()
	if r.MinOffset("T", 0) != min || r.MaxOffset("T", 0) != max {
		t.Fatalf("after restart min %d max %d, want %d %d", r.MinOffset("T", 0), r.MaxOffset("T", 0), min, max)
	}
	if p := mustPut(t, r, newMsg("T", 0, "new")); p.QueueOffset != max {
		t.Fatalf("new message at %d, want %d", p.QueueOffset, max)
	}
	_ = mem
}

func TestRetentionByDiskUsage(t *testing.T) {
	s, mem, clock := retentionStore(t)
	defer s.Close()
	segments := len(s.log.files.list())
	used := usedBytes(t, mem)

	// Above diskMaxUsedSpaceRatio at an off hour: expired segments go.
	clock.now = time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	mem.SetCapacity(used * 100 / 80)
	rep, err := s.Clean()
	if err != nil || rep.DeletedSegments != segments-1 {
		t.Fatalf("clean at %.2f used: %+v %v", rep.UsedRatio, rep, err)
	}
}

func TestRetentionForcibly(t *testing.T) {
	s, mem, clock := retentionStore(t)
	defer s.Close()
	// Nothing has expired, but the disk is 88% full: the oldest go anyway.
	clock.Add(time.Hour)
	mem.SetCapacity(usedBytes(t, mem) * 100 / 88)
	rep, err := s.Clean()
	if err != nil || rep.DeletedSegments == 0 {
		t.Fatalf("forcible clean at %.2f: %+v %v", rep.UsedRatio, rep, err)
	}
}

func TestDiskWarningLevelRefusesWrites(t *testing.T) {
	s, mem, _ := retentionStore(t)
	defer s.Close()
	mem.SetCapacity(usedBytes(t, mem) * 100 / 95)
	s.cfg.DiskSpaceCleanForciblyRatio = 0.99 // keep the data: only the refusal is tested
	if _, err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newMsg("T", 0, "x")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("put above the warning level: %v", err)
	}
	if res := s.GetMessages("T", 0, 0, 1, 1<<20, nil, nil); res.Status != Found {
		t.Fatalf("reads refused too: %v", res.Status)
	}
	mem.SetCapacity(0)
	if _, err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newMsg("T", 0, "x"))
}

func TestDeleteTopic(t *testing.T) {
	mem := vfs.NewMem()
	cfg := testConfig(mem)
	s := mustOpen(t, cfg)
	for i := 0; i < 10; i++ {
		mustPut(t, s, newMsg("Gone", 0, "x"))
		mustPut(t, s, newMsg("Kept", 0, "y"))
	}
	if err := s.DeleteTopic("Gone"); err != nil {
		t.Fatal(err)
	}
	if s.MaxOffset("Gone", 0) != 0 || s.GetMessages("Gone", 0, 0, 10, 1<<20, nil, nil).Status != NoMatchedLogicQueue {
		t.Fatal("topic still readable")
	}
	if names, _ := mem.List("/store/consumequeue"); len(names) != 1 || names[0] != "Kept" {
		t.Fatalf("consume queue dirs %v", names)
	}
	if r := mustPut(t, s, newMsg("Gone", 0, "again")); r.QueueOffset != 0 {
		t.Fatalf("re-created topic starts at %d", r.QueueOffset)
	}
	waitDispatched(t, s)
	// A crash now must not bring the old messages back into the new queue.
	var crashed *vfs.MemFS
	s.freeze(func() { crashed = mem.CrashClone(vfs.CrashOptions{KeepUnsyncedProbability: 1}) })
	s.Close()
	r := mustOpen(t, testConfig(crashed))
	defer r.Close()
	if r.MaxOffset("Gone", 0) != 1 || r.MaxOffset("Kept", 0) != 10 {
		t.Fatalf("after crash: Gone %d Kept %d", r.MaxOffset("Gone", 0), r.MaxOffset("Kept", 0))
	}
	msgs := decodeAll(t, r.GetMessages("Gone", 0, 0, 10, 1<<20, nil, nil).Buffer)
	if len(msgs) != 1 || string(msgs[0].Body) != "again" {
		t.Fatalf("Gone holds %d messages", len(msgs))
	}
}

// TestRetentionFloor: segments holding messages the broker still has to
// deliver survive even forcible cleaning.
func TestRetentionFloor(t *testing.T) {
	s, mem, clock := retentionStore(t)
	defer s.Close()
	files := s.log.files.list()
	floor := files[2].start + 1 // a pending message in the third segment
	s.cfg.RetentionFloor = func() int64 { return floor }
	clock.Add(1000 * time.Hour)
	mem.SetCapacity(usedBytes(t, mem) * 100 / 88)
	rep, err := s.Clean()
	if err != nil || rep.DeletedSegments != 2 || s.log.files.minOffset() != files[2].start {
		t.Fatalf("clean with a floor: %+v %v", rep, err)
	}
}
