package compat

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// Each benchmark call starts its own petrel (the framework calls a
// benchmark several times while it sizes b.N); setup is outside the timer.
//
//	cd compat && go test -run '^$' -bench . ./...

const (
	benchSenders = 16
	benchWarmUp  = 2000 // untimed sends before a throughput measurement
)

// BenchmarkSendSync16 measures send throughput: 16 goroutines sharing one
// producer send 1 KiB messages with SendSync, under each flush mode.
func BenchmarkSendSync16(b *testing.B) {
	for _, flush := range []string{"ASYNC_FLUSH", "SYNC_FLUSH"} {
		b.Run(flush, func(b *testing.B) { benchSendSync(b, flush) })
	}
}

func benchSendSync(b *testing.B, flush string) {
	p := startPetrel(b, "flushDiskType="+flush)
	const topic = "BenchSend"
	createTopic(b, p, topic, 8)
	prod := newProducer(b, p)
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	send := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		res, err := prod.SendSync(ctx, primitive.NewMessage(topic, body))
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("status %d, want SEND_OK", res.Status)
		}
		return err
	}
	// Warm up untimed: route lookup, connection, the first pages of the
	// commit log.
	if err := sendConcurrently(benchWarmUp, send); err != nil {
		b.Fatalf("warm-up send: %v", err)
	}

	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	err := sendConcurrently(b.N, send)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("send: %v", err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// sendConcurrently makes n calls of send from benchSenders goroutines and
// returns the first error.
func sendConcurrently(n int, send func() error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	for range benchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := send(); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// BenchmarkSendToConsumeLatency measures the time from just before SendSync
// to an idle push consumer's callback, one message at a time, from a send
// timestamp carried in the body; it reports p50 and p99 in microseconds.
func BenchmarkSendToConsumeLatency(b *testing.B) {
	p := startPetrel(b)
	const topic, queues = "BenchLatency", 4
	createTopic(b, p, topic, queues)

	arrived := make(chan time.Duration, 16)
	handle := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		now := time.Now()
		for _, m := range msgs {
			ns, err := strconv.ParseInt(string(m.Body), 10, 64)
			if err == nil {
				arrived <- now.Sub(time.Unix(0, ns))
			}
		}
		return consumer.ConsumeSuccess, nil
	}
	c, err := openPushConsumer(p, "BenchLatencyGroup", topic, "*", handle)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Shutdown() })
	eventually(b, deliverTimeout, func() bool { return len(c.OwnedQueues(topic)) == queues },
		func() string { return fmt.Sprintf("consumer owns queues %v of %d", c.OwnedQueues(topic), queues) })
	prod := newProducer(b, p)

	roundTrip := func() time.Duration {
		body := strconv.FormatInt(time.Now().UnixNano(), 10)
		if res, err := prod.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body))); err != nil || res.Status != primitive.SendOK {
			b.Fatalf("SendSync: %v %v", res, err)
		}
		select {
		case d := <-arrived:
			return d
		case <-time.After(deliverTimeout):
			b.Fatalf("message not delivered within %v", deliverTimeout)
			return 0
		}
	}
	for range queues { // one message per queue: every long poll has answered once
		roundTrip()
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		lat = append(lat, roundTrip())
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q int) float64 { return float64(lat[(len(lat)-1)*q/100].Microseconds()) }
	b.ReportMetric(pct(50), "p50-µs")
	b.ReportMetric(pct(99), "p99-µs")
}
