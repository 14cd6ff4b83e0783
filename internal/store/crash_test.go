package store

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// freeze runs fn while no append, dispatch or consume-queue write is in
// progress, so a crash clone sees a state a real machine could be in.
func (s *Store) freeze(fn func()) {
	s.log.mu.Lock()
	s.dispatchMu.Lock()
	defer s.log.mu.Unlock()
	defer s.dispatchMu.Unlock()
	fn()
}

type ack struct {
	body    string
	topic   string
	queue   int32
	qo      int64
	phys    int64
	end     int64
	status  PutStatus
	writer  int
	sequenc int
}

// TestCrashRecovery appends from several goroutines, simulates a power loss
// at a random moment, reopens the surviving state and checks the store's
// promises: under SYNC_FLUSH every acknowledged PutOK is readable with the
// same bytes and offsets; in both modes everything acknowledged below the
// flushed offset survives, every readable record is whole (CRC) and was
// really sent, each queue is a gapless prefix, and appends continue without
// gaps. Torn writes come from keeping a random subset of unsynced pages.
func TestCrashRecovery(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for _, mode := range []FlushDiskType{SyncFlush, AsyncFlush} {
		for _, keep := range []float64{0, 0.5} {
			for seed := int64(1); seed <= int64(seeds); seed++ {
				name := fmt.Sprintf("%v/keep%.1f/seed%d", mode, keep, seed)
				t.Run(name, func(t *testing.T) { crashOnce(t, mode, keep, seed) })
			}
		}
	}
}

func crashCfg(fs vfs.FS, mode FlushDiskType) Config {
	cfg := testConfig(fs)
	cfg.FlushDiskType = mode
	cfg.CommitLogSegmentSize = 32 << 10
	cfg.MaxRecordSize = 12 << 10
	cfg.ConsumeQueueEntries = 16
	cfg.IndexMaxEntries = 40
	cfg.IndexHashSlots = 16
	cfg.FlushInterval = 2 * time.Millisecond
	cfg.CheckpointInterval = 3 * time.Millisecond
	return cfg
}

func crashOnce(t *testing.T, mode FlushDiskType, keep float64, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	mem := vfs.NewMem()
	cfg := crashCfg(mem, mode)
	if seed%2 == 0 {
		// More unsynced data at the crash (a checkpoint syncs the log too).
		cfg.FlushInterval = 50 * time.Millisecond
		cfg.CheckpointInterval = 40 * time.Millisecond
	}
	s := mustOpen(t, cfg)

	var (
		mu      sync.Mutex
		acks    []ack
		sent    = map[string]bool{}
		target  = rng.Intn(300)
		reached = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	if target == 0 {
		once.Do(func() { close(reached) })
	}
	topics := []string{"A", "B"}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		wr := rand.New(rand.NewSource(seed*100 + int64(w)))
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				topic, queue := topics[wr.Intn(2)], int32(wr.Intn(3))
				n := 1
				if wr.Intn(5) == 0 {
					n = 1 + wr.Intn(4)
				}
				if n > 1 && wr.Intn(2) == 0 {
					n = 1
				}
				batch := make([]message.Message, n)
				bodies := make([]string, n)
				for j := range batch {
					size := wr.Intn(600)
					if n == 1 && wr.Intn(4) == 0 {
						size = 4500 + wr.Intn(4500) // spans 3 pages: a tear can keep both ends
					}
					bodies[j] = fmt.Sprintf("w%d-%d-%d-%s", w, i, j, strings.Repeat("x", size))
					batch[j] = *newMsg(topic, queue, bodies[j], "KEYS", fmt.Sprintf("k%d", i))
				}
				mu.Lock()
				for _, b := range bodies {
					sent[b] = true
				}
				mu.Unlock()
				var r PutResult
				var err error
				if n == 1 {
					r, err = s.Put(&batch[0])
				} else {
					r, err = s.PutBatch(batch)
				}
				if err != nil {
					if errors.Is(err, ErrClosed) {
						return
					}
					t.Errorf("put: %v", err)
					once.Do(func() { close(reached) })
					return
				}
				mu.Lock()
				phys := r.PhysOffset
				for j := range batch {
					size := int64(batch[j].EncodedSize())
					acks = append(acks, ack{body: bodies[j], topic: topic, queue: queue, qo: r.QueueOffset + int64(j),
						phys: phys, end: phys + size, status: r.Status, writer: w, sequenc: i})
					phys += size
				}
				if len(acks) >= target {
					once.Do(func() { close(reached) })
				}
				mu.Unlock()
			}
		}(w)
	}
	<-reached
	var clone *vfs.MemFS
	var required []ack
	var flushedAtCrash int64
	mu.Lock()
	s.freeze(func() {
		flushedAtCrash = s.log.flushed.Load()
		if testing.Verbose() {
			t.Logf("crash: written %d flushed %d", s.log.written.Load(), flushedAtCrash)
		}
		clone = mem.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsyncedProbability: keep})
	})
	required = append(required, acks...)
	sentCopy := make(map[string]bool, len(sent))
	for k := range sent {
		sentCopy[k] = true
	}
	mu.Unlock()
	s.Close()
	wg.Wait()

	r := mustOpen(t, crashCfg(clone, mode))
	verifyRecovered(t, r, required, sentCopy, mode, flushedAtCrash)
	// Appends continue with no gap in queue offsets or in the log.
	end := r.log.written.Load()
	for _, topic := range topics {
		for q := int32(0); q < 3; q++ {
			max := r.MaxOffset(topic, q)
			res := mustPut(t, r, newMsg(topic, q, "after-"+topic))
			if res.QueueOffset != max {
				t.Fatalf("%s/%d: new message at queue offset %d, max was %d", topic, q, res.QueueOffset, max)
			}
			if res.PhysOffset < end {
				t.Fatalf("new message at %d overlaps the recovered log ending at %d", res.PhysOffset, end)
			}
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close after recovery: %v", err)
	}
	// A clean reopen of the recovered store finds the same content.
	again := mustOpen(t, crashCfg(clone, mode))
	defer again.Close()
	for _, topic := range topics {
		for q := int32(0); q < 3; q++ {
			if a, b := again.MaxOffset(topic, q), r.MaxOffset(topic, q); a != b {
				t.Fatalf("%s/%d: max %d after clean reopen, %d before", topic, q, a, b)
			}
		}
	}
}

func verifyRecovered(t *testing.T, s *Store, acks []ack, sent map[string]bool, mode FlushDiskType, flushedAtCrash int64) {
	t.Helper()
	type pos struct {
		topic string
		queue int32
		qo    int64
	}
	found := map[pos]*message.Ext{}
	seen := map[string]bool{}
	for _, topic := range []string{"A", "B"} {
		for q := int32(0); q < 3; q++ {
			max := s.MaxOffset(topic, q)
			if min := s.MinOffset(topic, q); min != 0 {
				t.Fatalf("%s/%d: min offset %d", topic, q, min)
			}
			var lastPhys int64 = -1
			for off := int64(0); off < max; {
				res := s.GetMessages(topic, q, off, 32, 1<<20, nil, nil)
				if res.Status != Found {
					t.Fatalf("%s/%d offset %d of %d: %v", topic, q, off, max, res.Status)
				}
				msgs, err := message.DecodeAll(res.Buffer)
				if err != nil {
					t.Fatalf("%s/%d: a readable record is damaged: %v", topic, q, err)
				}
				for i, m := range msgs {
					if m.QueueOffset != off+int64(i) || m.Topic != topic || m.QueueID != q {
						t.Fatalf("%s/%d: entry %d holds %s/%d offset %d", topic, q, off+int64(i), m.Topic, m.QueueID, m.QueueOffset)
					}
					if m.PhysicalOffset <= lastPhys {
						t.Fatalf("%s/%d: physical offsets go back", topic, q)
					}
					lastPhys = m.PhysicalOffset
					b := string(m.Body)
					if !sent[b] || seen[b] {
						t.Fatalf("%s/%d offset %d: body %.20q was never sent or appears twice", topic, q, m.QueueOffset, b)
					}
					// The properties came through whole too (a lost page
					// over them is not covered by the body CRC).
					var w, i, j int
					if _, err := fmt.Sscanf(b, "w%d-%d-%d-", &w, &i, &j); err != nil {
						t.Fatalf("body %.20q: %v", b, err)
					}
					if got, want := m.Properties["KEYS"], fmt.Sprintf("k%d", i); got != want || len(m.Properties) != 1 {
						t.Fatalf("%s/%d offset %d: body %.20q came back with properties %q, KEYS should be %q", topic, q, m.QueueOffset, b, m.RawProperties, want)
					}
					seen[b] = true
					found[pos{topic, q, m.QueueOffset}] = m
				}
				off += int64(len(msgs))
			}
		}
	}
	for _, a := range acks {
		durable := a.end <= flushedAtCrash || (mode == SyncFlush && a.status == PutOK)
		m := found[pos{a.topic, a.queue, a.qo}]
		if m == nil {
			if durable {
				t.Fatalf("acknowledged durable message %.20q (%s/%d offset %d, end %d, flushed %d) lost", a.body, a.topic, a.queue, a.qo, a.end, flushedAtCrash)
			}
			continue
		}
		if string(m.Body) != a.body || m.PhysicalOffset != a.phys {
			t.Fatalf("%s/%d offset %d: holds %.20q at %d, acknowledged %.20q at %d", a.topic, a.queue, a.qo, m.Body, m.PhysicalOffset, a.body, a.phys)
		}
	}
}
