package client

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/testserver"
)

// benchCluster starts an in-process petrel (ASYNC_FLUSH, the default) with
// an 8-queue topic.
func benchCluster(b *testing.B) *testserver.Cluster {
	c := testserver.Start(b, testserver.Options{Configure: func(_ int, cfg *config.Broker) {
		cfg.MappedFileSizeCommitLog = 1 << 30
	}})
	c.CreateTopic("Bench", 8)
	return c
}

// BenchmarkSendAsync is one producer pipelining 1 KiB messages with
// SendAsync (the bar: 100k msgs/s on 2 cores, broker included).
func BenchmarkSendAsync(b *testing.B) {
	c := benchCluster(b)
	p := newTestProducer(b, c, nil)
	body := make([]byte, 1024)
	ctx := context.Background()
	if _, err := p.Send(ctx, NewMessage("Bench", body)); err != nil { // route and connection
		b.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	cb := func(_ *SendResult, err error) {
		if err != nil {
			mu.Lock()
			failed = err
			mu.Unlock()
		}
		wg.Done()
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	wg.Add(b.N)
	for range b.N {
		if err := p.SendAsync(ctx, &Message{Topic: "Bench", Body: body}, cb); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if failed != nil {
		b.Fatal(failed)
	}
}

// BenchmarkSend16 is 16 goroutines calling Send with 1 KiB messages (the
// issue's bar: 45k msgs/s on 2 cores, broker included).
func BenchmarkSend16(b *testing.B) {
	c := benchCluster(b)
	p := newTestProducer(b, c, nil)
	body := make([]byte, 1024)
	ctx := context.Background()
	if _, err := p.Send(ctx, NewMessage("Bench", body)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Send(ctx, &Message{Topic: "Bench", Body: body}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
