package client

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPushConsumerDrain fills a backlog of 1 KiB messages with one
// pipelining producer (SendAsync), then drains it with a push consumer
// (default settings: 20 listener goroutines, one message per call) and
// reports both rates (the bar: drain at least as fast as the
// fill). The backlog is PETREL_BENCH_BACKLOG messages (default 200,000);
// run it with -benchtime=1x.
func BenchmarkPushConsumerDrain(b *testing.B) {
	backlog := 200_000
	if v, err := strconv.Atoi(os.Getenv("PETREL_BENCH_BACKLOG")); err == nil && v > 0 {
		backlog = v
	}
	c := benchCluster(b)
	p := newTestProducer(b, c, nil)
	body := make([]byte, 1024)
	ctx := context.Background()
	var fillRate, drainRate float64
	for i := range b.N {
		topic := "Drain" + strconv.Itoa(i)
		c.CreateTopic(topic, 8)
		if _, err := p.Send(ctx, NewMessage(topic, body)); err != nil { // route and connection
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		wg.Add(backlog)
		for range backlog {
			if err := p.SendAsync(ctx, &Message{Topic: topic, Body: body}, func(_ *SendResult, err error) {
				if err != nil {
					failed.Add(1)
				}
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		fillRate = float64(backlog) / time.Since(start).Seconds()
		if failed.Load() > 0 {
			b.Fatalf("%d sends failed", failed.Load())
		}
		c.Brokers[0].WaitDispatched(b)

		want := int64(backlog + 1)
		var consumed atomic.Int64
		done := make(chan struct{})
		pc, err := NewPushConsumer(PushConsumerConfig{
			Config:      Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "drain", Logger: quietLogger()},
			Group:       "drain-" + topic,
			ConsumeFrom: ConsumeFromFirstOffset,
			Listener: func(_ context.Context, msgs []*MessageExt) ConsumeResult {
				if consumed.Add(int64(len(msgs))) == want {
					close(done)
				}
				return ConsumeSuccess
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := pc.Subscribe(topic, "*"); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := pc.Start(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
			b.Fatalf("drained %d of %d", consumed.Load(), want)
		}
		drainRate = float64(want) / time.Since(start).Seconds()
		pc.Close()
	}
	b.ReportMetric(fillRate, "fill-msgs/s")
	b.ReportMetric(drainRate, "drain-msgs/s")
}
