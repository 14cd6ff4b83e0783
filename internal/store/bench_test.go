package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// benchCfg is a production-shaped store on the real disk.
func benchCfg(dir string, mode FlushDiskType) Config {
	return Config{
		Dir:             dir,
		FlushDiskType:   mode,
		StoreHost:       testStoreHost,
		IndexHashSlots:  1 << 20,
		IndexMaxEntries: 4 << 20,
		// Small enough that a run rolls several times, so SYNC_FLUSH
		// numbers include warming the next segment (warm.go).
		CommitLogSegmentSize: 64 << 20,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func benchMsg(queue int32) *message.Message {
	m := newMsg("BenchTopic", queue, string(bytes.Repeat([]byte("p"), 1024)), "TAGS", "TagA", "UNIQ_KEY", "C0A8010A000000000000000000000001")
	return m
}

// TestPutDoesNotAllocate: the ASYNC_FLUSH append path allocates nothing in
// steady state.
func TestPutDoesNotAllocate(t *testing.T) {
	s := mustOpen(t, benchCfg(t.TempDir(), AsyncFlush))
	defer s.Close()
	m := benchMsg(0)
	mustPut(t, s, m) // creates the segment, queue counters, buffers
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Put", allocs)
	}
}

// TestGetMessagesDoesNotAllocate: reading into a buffer with room
// allocates nothing, so a pull costs the broker no garbage of its own.
func TestGetMessagesDoesNotAllocate(t *testing.T) {
	s := mustOpen(t, benchCfg(t.TempDir(), AsyncFlush))
	defer s.Close()
	m := benchMsg(0)
	for range 64 {
		mustPut(t, s, m)
	}
	waitDispatched(t, s)
	buf := make([]byte, 0, 64<<10)
	allocs := testing.AllocsPerRun(1000, func() {
		if res := s.GetMessages("BenchTopic", 0, 0, 32, 256<<10, nil, buf[:0]); res.Count != 32 {
			t.Fatalf("%v: %d messages", res.Status, res.Count)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per GetMessages", allocs)
	}
}

// BenchmarkRawSequentialWrite is the baseline the append benchmarks are
// judged against: 1 MiB writes to a preallocated file, synced every 500 ms
// like ASYNC_FLUSH's flusher.
func BenchmarkRawSequentialWrite(b *testing.B) {
	dir := b.TempDir()
	buf := bytes.Repeat([]byte("r"), 1<<20)
	const fileSize = 1 << 30
	var f *os.File
	var off int64
	lastSync := time.Now()
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if f == nil || off == fileSize {
			if f != nil {
				f.Close()
			}
			b.StopTimer()
			var err error
			vf, err := vfs.Default.Create(filepath.Join(dir, fmt.Sprintf("raw-%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if err := vf.Preallocate(fileSize); err != nil {
				b.Fatal(err)
			}
			vf.Close()
			f, _ = os.OpenFile(filepath.Join(dir, fmt.Sprintf("raw-%d", i)), os.O_RDWR, 0)
			off = 0
			b.StartTimer()
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
		if time.Since(lastSync) > 500*time.Millisecond {
			f.Sync()
			lastSync = time.Now()
		}
	}
	f.Sync()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "MiB/s")
	f.Close()
}

// BenchmarkAppend measures 1 KiB appends (msgs/s, MB/s, allocs/op) with W
// concurrent writers.
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		mode    FlushDiskType
		writers int
	}{
		{AsyncFlush, 1}, {AsyncFlush, 16}, {AsyncFlush, 64},
		{SyncFlush, 1}, {SyncFlush, 16}, {SyncFlush, 64}, {SyncFlush, 256},
	} {
		b.Run(fmt.Sprintf("%s/writers=%d", tc.mode, tc.writers), func(b *testing.B) {
			s, err := Open(benchCfg(b.TempDir(), tc.mode))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			msgs := make([]*message.Message, tc.writers)
			for i := range msgs {
				msgs[i] = benchMsg(int32(i % 8))
				if _, err := s.Put(msgs[i]); err != nil {
					b.Fatal(err)
				}
			}
			size := msgs[0].EncodedSize()
			var next atomic.Int64
			var timeouts atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func(m *message.Message) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						r, err := s.Put(m)
						if err != nil {
							b.Error(err)
							return
						}
						if r.Status != PutOK {
							timeouts.Add(1)
						}
					}
				}(msgs[w])
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if tc.mode == SyncFlush {
				b.ReportMetric(float64(b.N)/float64(s.log.syncs.Load()), "msgs/sync")
			}
			if n := timeouts.Load(); n > 0 {
				b.ReportMetric(float64(n), "flush-timeouts")
			}
		})
	}
}

// BenchmarkGetMessages reads 32 messages per op from a filled queue.
func BenchmarkGetMessages(b *testing.B) {
	s, err := Open(benchCfg(b.TempDir(), AsyncFlush))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100000
	m := benchMsg(0)
	for i := 0; i < n; i++ {
		if _, err := s.Put(m); err != nil {
			b.Fatal(err)
		}
	}
	waitDispatched(b, s)
	buf := make([]byte, 0, 64<<10)
	b.SetBytes(int64(32 * m.EncodedSize()))
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		res := s.GetMessages("BenchTopic", 0, off, 32, 256<<10, nil, buf[:0])
		if res.Count != 32 {
			b.Fatalf("%v %d", res.Status, res.Count)
		}
		off = res.NextBeginOffset
		if off+32 > n {
			off = 0
		}
	}
	b.ReportMetric(float64(b.N)*32/b.Elapsed().Seconds(), "msgs/s")
}
