package store

import (
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
)

// BenchmarkRecoveryAfterCrash fills a store with PETREL_RECOVERY_GIB GiB
// (default 1) of 1 KiB messages over 64 queues with production-sized files,
// abandons it without Close (as a crash would: abort mark present, the
// last checkpoint up to a second old), and measures Open.
//
//	PETREL_RECOVERY_GIB=10 go test -run '^$' -bench RecoveryAfterCrash -benchtime 1x ./internal/store/
func BenchmarkRecoveryAfterCrash(b *testing.B) {
	gib := 1
	if v := os.Getenv("PETREL_RECOVERY_GIB"); v != "" {
		gib, _ = strconv.Atoi(v)
	}
	dir := b.TempDir()
	cfg := Config{Dir: dir, StoreHost: testStoreHost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*message.Message, 64)
	for i := range msgs {
		msgs[i] = benchMsg(int32(i))
		msgs[i].Topic = "Recovery" + strconv.Itoa(i%4)
	}
	target := int64(gib) << 30
	for i := 0; s.log.written.Load() < target; i++ {
		if _, err := s.Put(msgs[i%64]); err != nil {
			b.Fatal(err)
		}
	}
	waitDispatched(b, s)
	time.Sleep(1500 * time.Millisecond) // let a checkpoint happen, as in steady state
	// Abandon s: stop its goroutines without the clean-close steps.
	close(s.stop)
	s.wg.Wait()
	s.log.files.close()
	s.cqs.close()
	s.index.close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "open-s")
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(gib), "GiB")
}
