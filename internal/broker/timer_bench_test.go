package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store"
)

// Sizes of BenchmarkTimersMillion.
const (
	benchTimers      = 1_000_000
	benchTimerQueues = 4
	// benchTimerWindow is how long the due times are spread over.
	benchTimerWindow = 30 * time.Second
	// benchCalibration plain messages are stored first to estimate how long
	// storing the timers takes, so the window starts after they are loaded.
	benchCalibration = 20_000
)

// BenchmarkTimersMillion measures the timer service (timer.go) holding a
// million pending timers and then delivering them. It is a benchmark, not
// a test, because it writes ~500 MB and takes about a minute.
//
// What it does, once per b.N (run it with -benchtime 1x): an in-process
// broker with ASYNC_FLUSH stores benchTimers messages with TIMER_DELIVER_MS
// through storeMessage, the send path's store step, so the network and
// request decoding are not measured and loading is fast. Each message
// carries the properties a client send leaves (UNIQ_KEY, CLUSTER) and its
// due time in the body, because the timer properties are removed on
// delivery. The due times are spread uniformly over benchTimerWindow,
// starting after every timer is stored and in the service's heap.
//
// What it reports:
//   - heap-MiB: HeapInuse after a GC once every timer is pending, minus
//     HeapInuse after a GC before loading: the broker's heap cost of the
//     pending timers (the service's min-heap, the done bitmap, and anything
//     else the broker or store keeps per message).
//   - timerheap-MiB: the min-heap's own backing array (cap × 16 bytes).
//   - p50/p99/max-late-ms: delivery lateness, the store timestamp of each
//     delivered copy in the real topic minus its due time, read back from
//     the store after all are delivered. A copy stored before its due time
//     fails the benchmark.
//   - load-s: time to store the timers and have them all in the heap.
func BenchmarkTimersMillion(b *testing.B) {
	for range b.N {
		r := runTimersMillion(b)
		b.ReportMetric(r.heapMiB, "heap-MiB")
		b.ReportMetric(r.timerHeapMiB, "timerheap-MiB")
		b.ReportMetric(r.p50, "p50-late-ms")
		b.ReportMetric(r.p99, "p99-late-ms")
		b.ReportMetric(r.max, "max-late-ms")
		b.ReportMetric(r.load.Seconds(), "load-s")
	}
}

type timersMillionResult struct {
	heapMiB, timerHeapMiB float64
	p50, p99, max         float64
	load                  time.Duration
}

// startBenchBroker starts a broker with production-sized store files
// (startBroker needs a *testing.T) and stops it when b ends.
func startBenchBroker(b *testing.B) *Broker {
	b.Helper()
	cfg := config.DefaultBroker()
	cfg.BrokerName = "broker-a"
	cfg.StorePathRootDir = b.TempDir()
	cfg.MappedFileSizeCommitLog = 256 << 20
	cfg.MaxHashSlotNum = 1_000_000
	cfg.MaxIndexNum = 4_000_000
	cfg.NamesrvAddr = nil
	cfg.BindAddress = "127.0.0.1"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(Options{Config: cfg, Listener: ln, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	br.Start()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := br.Shutdown(ctx); err != nil {
			b.Errorf("shutdown: %v", err)
		}
	})
	return br
}

// benchMessage fills m as the send path would store message i of topic,
// due at due (ms), with a timer property when timer is set.
func benchMessage(br *Broker, m *message.Message, props []byte, topic string, i int, due int64, timer bool) []byte {
	pairs := []string{"UNIQ_KEY", fmt.Sprintf("7F0000010001%020X", i), "WAIT", "true"}
	if timer {
		pairs = append(pairs, message.PropertyTimerDeliverMS, strconv.FormatInt(due, 10))
	}
	props = br.storedProperties(props[:0], message.EncodeProperties(nil, pairs...))
	*m = message.Message{
		Topic: topic, QueueID: int32(i % benchTimerQueues), BornTimestamp: time.Now().UnixMilli(),
		BornHost: netip.MustParseAddrPort("127.0.0.1:40000"), StoreHost: br.storeHost,
		Body: []byte(fmt.Sprintf("%d %d", i, due)), Properties: props,
	}
	return props
}

func benchHeapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func runTimersMillion(b *testing.B) timersMillionResult {
	br := startBenchBroker(b)
	var m message.Message
	var props []byte

	// Calibrate: plain messages of the same shape, timed.
	calStart := time.Now()
	for i := range benchCalibration {
		props = benchMessage(br, &m, props, "Calib", i, 0, false)
		if _, err := br.storeMessage(&m); err != nil {
			b.Fatal(err)
		}
	}
	perMsg := time.Since(calStart) / benchCalibration
	before := benchHeapInuse()

	b.ResetTimer()
	loadStart := time.Now()
	// Twice the estimate: the timer service scans the queue into its heap
	// while the timers are stored, on the same cores.
	t0 := loadStart.Add(2*perMsg*benchTimers + 2*time.Second).UnixMilli()
	window := benchTimerWindow.Milliseconds()
	for i := range benchTimers {
		due := t0 + int64(i)*window/benchTimers
		props = benchMessage(br, &m, props, "T", i, due, true)
		if _, err := br.storeMessage(&m); err != nil {
			b.Fatal(err)
		}
	}
	stored := time.Now()
	for br.timers.pending() < benchTimers {
		if time.Now().UnixMilli() >= t0 {
			b.Fatalf("only %d timers in the heap when the window opened; storing took %v (estimate %v)",
				br.timers.pending(), stored.Sub(loadStart), perMsg*benchTimers)
		}
		time.Sleep(time.Millisecond)
	}
	load := time.Since(loadStart)
	after := benchHeapInuse()
	br.timers.mu.Lock()
	timerHeap := cap(br.timers.heap) * 16
	br.timers.mu.Unlock()
	if now := time.Now().UnixMilli(); now >= t0 {
		b.Fatalf("loading ended %d ms after the window opened", now-t0)
	}
	b.Logf("stored %d timers in %v, all in the heap after %v; window opens %v later",
		benchTimers, stored.Sub(loadStart), load, time.Until(time.UnixMilli(t0)).Round(time.Millisecond))

	deadline := time.UnixMilli(t0).Add(benchTimerWindow + 2*time.Minute)
	for benchDelivered(br, "T") < benchTimers {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d timers delivered by %v", benchDelivered(br, "T"), benchTimers, deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()

	late := benchLateness(b, br)
	slices.Sort(late)
	pct := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) }
	return timersMillionResult{
		heapMiB:      (float64(after) - float64(before)) / (1 << 20),
		timerHeapMiB: float64(timerHeap) / (1 << 20),
		p50:          pct(0.50),
		p99:          pct(0.99),
		max:          float64(late[len(late)-1]),
		load:         load,
	}
}

// benchDelivered is how many messages topic's queues hold.
func benchDelivered(br *Broker, topic string) int64 {
	var n int64
	for q := range int32(benchTimerQueues) {
		n += br.store.MaxOffset(topic, q)
	}
	return n
}

// benchLateness reads every delivered copy back and returns each one's
// store timestamp minus its due time (ms). Every timer must be delivered
// exactly once, and none early.
func benchLateness(b *testing.B, br *Broker) []int64 {
	late := make([]int64, 0, benchTimers)
	seen := make([]bool, benchTimers)
	var buf []byte
	for q := range int32(benchTimerQueues) {
		for off := int64(0); off < br.store.MaxOffset("T", q); {
			res := br.store.GetMessages("T", q, off, 1024, 4<<20, nil, buf[:0])
			if res.Status != store.Found {
				b.Fatalf("read T/%d at %d: %s", q, off, res.Status)
			}
			for rest := res.Buffer; len(rest) > 0; {
				r := message.Record(rest[:message.Record(rest).TotalSize()])
				rest = rest[len(r):]
				var i int
				var due int64
				if _, err := fmt.Sscan(string(r.Body()), &i, &due); err != nil || i < 0 || i >= benchTimers {
					b.Fatalf("T/%d: unexpected body %q", q, r.Body())
				}
				if seen[i] {
					b.Fatalf("timer %d delivered twice", i)
				}
				seen[i] = true
				if d := r.StoreTimestamp() - due; d < 0 {
					b.Fatalf("timer %d stored %d ms before its due time", i, -d)
				} else {
					late = append(late, d)
				}
			}
			off, buf = res.NextBeginOffset, res.Buffer
		}
	}
	if len(late) != benchTimers {
		b.Fatalf("%d timers delivered, want %d", len(late), benchTimers)
	}
	return late
}
