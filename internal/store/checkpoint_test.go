package store

import (
	"errors"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// TestCheckpointNotRewrittenWhenUnchanged: an idle store does not write
// (and sync) the same checkpoint again, but writes a changed one, and a
// failed write is retried on the next checkpoint.
func TestCheckpointNotRewrittenWhenUnchanged(t *testing.T) {
	var writes atomic.Int64
	var failNext atomic.Bool
	fs := vfs.Inject(vfs.NewMem(), func(op vfs.Op, name string) error {
		if op == vfs.OpRename && path.Base(name) == checkpointFile+".tmp" {
			if failNext.Swap(false) {
				return errors.New("EIO")
			}
			writes.Add(1)
		}
		return nil
	})
	cfg := testConfig(fs)
	cfg.CheckpointInterval = time.Hour // only the test's checkpoints
	s := mustOpen(t, cfg)
	defer s.Close()

	checkpoint := func() error {
		t.Helper()
		waitDispatched(t, s)
		return s.takeCheckpoint(false)
	}
	if err := checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got := writes.Load(); got != 1 {
		t.Fatalf("first checkpoint: %d writes, want 1", got)
	}
	for range 3 {
		if err := checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	if got := writes.Load(); got != 1 {
		t.Fatalf("three unchanged checkpoints: %d writes in all, want still 1", got)
	}

	mustPut(t, s, newMsg("T", 0, "x"))
	failNext.Store(true)
	if err := checkpoint(); err == nil {
		t.Fatal("checkpoint with a failing rename: no error")
	}
	if err := checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got := writes.Load(); got != 2 {
		t.Fatalf("after a put and a failed write: %d writes, want 2", got)
	}
	c, err := s.readCheckpoint()
	if err != nil || c == nil {
		t.Fatalf("read checkpoint: %v, %v", c, err)
	}
	if c.dispatched != s.dispatched.Load() || c.queues[queueKey{"T", 0}] != 1 {
		t.Fatalf("checkpoint on disk: dispatched %d (store %d), queue T/0 %d entries; want the put counted",
			c.dispatched, s.dispatched.Load(), c.queues[queueKey{"T", 0}])
	}
}
