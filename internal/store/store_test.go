package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

func TestPutGetRoundTrip(t *testing.T) {
	for _, mode := range []FlushDiskType{AsyncFlush, SyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(vfs.NewMem())
			cfg.FlushDiskType = mode
			s := mustOpen(t, cfg)
			defer s.Close()
			var want []PutResult
			for i := 0; i < 300; i++ {
				q := int32(i % 3)
				r := mustPut(t, s, newMsg("T", q, fmt.Sprintf("body-%d", i), "TAGS", fmt.Sprintf("Tag%d", i%2), "KEYS", fmt.Sprintf("k%d", i)))
				if r.Status != PutOK {
					t.Fatalf("status %v", r.Status)
				}
				if r.QueueOffset != int64(i/3) {
					t.Fatalf("message %d: queue offset %d", i, r.QueueOffset)
				}
				want = append(want, r)
			}
			waitDispatched(t, s)
			for q := int32(0); q < 3; q++ {
				if got := s.MaxOffset("T", q); got != 100 {
					t.Fatalf("queue %d max %d", q, got)
				}
				var all []*message.Ext
				for off := int64(0); off < 100; {
					res := s.GetMessages("T", q, off, 32, 1<<20, nil, nil)
					if res.Status != Found {
						t.Fatalf("queue %d offset %d: %v", q, off, res.Status)
					}
					all = append(all, decodeAll(t, res.Buffer)...)
					off = res.NextBeginOffset
				}
				for i, m := range all {
					n := i*3 + int(q)
					if string(m.Body) != fmt.Sprintf("body-%d", n) || m.QueueOffset != int64(i) || m.QueueID != q ||
						m.PhysicalOffset != want[n].PhysOffset || m.StoreHost != testStoreHost || m.BornHost != testBornHost ||
						m.Properties["KEYS"] != fmt.Sprintf("k%d", n) {
						t.Fatalf("queue %d entry %d: %+v", q, i, m)
					}
				}
			}
		})
	}
}

// waitDispatched waits until everything written is dispatched.
func waitDispatched(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.dispatched.Load() < s.log.written.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("dispatch stuck at %d of %d", s.dispatched.Load(), s.log.written.Load())
		}
		kick(s.dispatchKick)
		time.Sleep(time.Millisecond)
	}
}

func TestGetStatuses(t *testing.T) {
	s := mustOpen(t, testConfig(vfs.NewMem()))
	defer s.Close()
	for i := 0; i < 10; i++ {
		mustPut(t, s, newMsg("T", 0, "x", "TAGS", map[bool]string{true: "A", false: "B"}[i%2 == 0]))
	}
	waitDispatched(t, s)
	tagA := tagFilter{message.TagsHashCodeString("A"): true}
	tagC := tagFilter{message.TagsHashCodeString("C"): true}
	for _, tc := range []struct {
		name       string
		topic      string
		offset     int64
		max        int
		filter     MessageFilter
		status     GetStatus
		next       int64
		count      int
		maxBytes   int
		wantMinMax bool
	}{
		{"unknown queue", "X", 0, 32, nil, NoMatchedLogicQueue, 0, 0, 1 << 20, false},
		{"all", "T", 0, 32, nil, Found, 10, 10, 1 << 20, true},
		{"max count", "T", 2, 3, nil, Found, 5, 3, 1 << 20, true},
		{"first always fits", "T", 0, 32, nil, Found, 1, 1, 1, true},
		{"tag filter", "T", 0, 32, tagA, Found, 10, 5, 1 << 20, true},
		{"nothing matches", "T", 0, 32, tagC, NoMatchedMessage, 10, 0, 1 << 20, true},
		{"at max", "T", 10, 32, nil, OffsetOverflowOne, 10, 0, 1 << 20, true},
		{"past max", "T", 12, 32, nil, OffsetOverflowBadly, 10, 0, 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.GetMessages(tc.topic, 0, tc.offset, tc.max, tc.maxBytes, tc.filter, nil)
			if res.Status != tc.status || res.NextBeginOffset != tc.next || res.Count != tc.count {
				t.Fatalf("got %v next %d count %d; want %v %d %d", res.Status, res.NextBeginOffset, res.Count, tc.status, tc.next, tc.count)
			}
			if tc.wantMinMax && (res.MinOffset != 0 || res.MaxOffset != 10) {
				t.Fatalf("min %d max %d", res.MinOffset, res.MaxOffset)
			}
			if got := len(decodeAll(t, res.Buffer)); got != tc.count {
				t.Fatalf("buffer holds %d records", got)
			}
		})
	}
}

func TestSegmentRollAndBatch(t *testing.T) {
	cfg := testConfig(vfs.NewMem())
	cfg.CommitLogSegmentSize = 8 << 10
	cfg.MaxRecordSize = 4 << 10
	s := mustOpen(t, cfg)
	body := string(bytes.Repeat([]byte("b"), 700))
	var ends []int64
	for i := 0; i < 40; i++ {
		r := mustPut(t, s, newMsg("T", 0, body))
		ends = append(ends, r.PhysOffset+int64(r.WroteBytes))
		if r.PhysOffset/cfg.CommitLogSegmentSize != (r.PhysOffset+int64(r.WroteBytes)-1)/cfg.CommitLogSegmentSize {
			t.Fatalf("record %d spans segments: %d+%d", i, r.PhysOffset, r.WroteBytes)
		}
	}
	batch := make([]message.Message, 4)
	for i := range batch {
		batch[i] = *newMsg("T", 1, fmt.Sprintf("batch-%d", i))
	}
	r, err := s.PutBatch(batch)
	if err != nil || r.QueueOffset != 0 {
		t.Fatalf("batch: %+v %v", r, err)
	}
	if _, err := s.PutBatch([]message.Message{*newMsg("T", 1, "a"), *newMsg("U", 1, "b")}); !errors.Is(err, ErrMessageIllegal) {
		t.Fatalf("mixed batch: %v", err)
	}
	if len(s.log.files.list()) < 4 {
		t.Fatalf("only %d segments", len(s.log.files.list()))
	}
	waitDispatched(t, s)
	res := s.GetMessages("T", 1, 0, 32, 1<<20, nil, nil)
	msgs := decodeAll(t, res.Buffer)
	if len(msgs) != 4 || string(msgs[3].Body) != "batch-3" || msgs[3].QueueOffset != 3 || msgs[1].PhysicalOffset != msgs[0].PhysicalOffset+int64(msgs[0].StoreSize) {
		t.Fatalf("batch read back: %d msgs", len(msgs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: everything is still there and appends continue at the end.
	s = mustOpen(t, cfg)
	defer s.Close()
	res = s.GetMessages("T", 0, 0, 64, 1<<20, nil, nil)
	if res.Count != 40 {
		t.Fatalf("after reopen: %d messages", res.Count)
	}
	r2 := mustPut(t, s, newMsg("T", 0, "after"))
	if r2.QueueOffset != 40 || r2.PhysOffset < ends[len(ends)-1] {
		t.Fatalf("after reopen put at %+v", r2)
	}
}

func TestPutValidation(t *testing.T) {
	s := mustOpen(t, testConfig(vfs.NewMem()))
	defer s.Close()
	for name, m := range map[string]*message.Message{
		"bad topic":         newMsg("../x", 0, "x"),
		"empty topic":       newMsg("", 0, "x"),
		"too big":           newMsg("T", 0, string(make([]byte, 17<<10))),
		"neg queue":         newMsg("T", -1, "x"),
		"NUL in a property": newMsg("T", 0, "x", "KEYS", "a\x00b"),
	} {
		if _, err := s.Put(m); !errors.Is(err, ErrMessageIllegal) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n, _ := s.cfg.FS.List("/store/consumequeue"); len(n) != 0 {
		t.Fatalf("refused messages touched the disk: %v", n)
	}
}

func TestArrivalListener(t *testing.T) {
	l := &recordingListener{ch: make(chan struct{}, 1)}
	cfg := testConfig(vfs.NewMem())
	cfg.Arrival = l
	s := mustOpen(t, cfg)
	defer s.Close()
	mustPut(t, s, newMsg("T", 2, "x"))
	mustPut(t, s, newMsg("T", 2, "y"))
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.seen)
		l.mu.Unlock()
		if n == 2 {
			break
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatal("no arrival")
		}
	}
	if l.seen[0] != "T/2/0" || l.seen[1] != "T/2/1" {
		t.Fatalf("arrivals %v", l.seen)
	}
}

func TestQueryMessages(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1700000000000)}
	cfg := testConfig(vfs.NewMem())
	cfg.Now = clock.Now
	cfg.IndexMaxEntries = 16 // several index files
	s := mustOpen(t, cfg)
	defer s.Close()
	for i := 0; i < 40; i++ {
		mustPut(t, s, newMsg("T", 0, fmt.Sprintf("m%d", i), "KEYS", fmt.Sprintf("order-%d shared", i%5), "UNIQ_KEY", fmt.Sprintf("U%03d", i)))
		mustPut(t, s, newMsg("Other", 0, "o", "KEYS", "shared"))
		clock.Add(time.Second)
	}
	waitDispatched(t, s)
	begin, end := int64(1700000000000), int64(1700000000000+100000)
	for _, tc := range []struct {
		topic, key string
		max        int
		begin, end int64
		want       int
	}{
		{"T", "U007", 32, begin, end, 1},
		{"T", "order-3", 32, begin, end, 8},
		{"T", "order-3", 3, begin, end, 3},
		{"T", "shared", 64, begin, end, 40},
		{"Other", "shared", 64, begin, end, 40},
		{"T", "missing", 32, begin, end, 0},
		{"T", "order-3", 32, begin + 10000, begin + 19999, 2}, // messages 13 and 18
	} {
		res, err := s.QueryMessages(tc.topic, tc.key, tc.max, tc.begin, tc.end, nil)
		if err != nil || res.Count != tc.want {
			t.Fatalf("%s/%s: %d (%v), want %d", tc.topic, tc.key, res.Count, err, tc.want)
		}
		for _, m := range decodeAll(t, res.Buffer) {
			if m.Topic != tc.topic {
				t.Fatalf("wrong topic %s", m.Topic)
			}
		}
	}
	r := mustPut(t, s, newMsg("T", 0, "by-offset"))
	got, err := s.ReadMessage(r.PhysOffset, nil)
	if err != nil || string(decodeAll(t, got)[0].Body) != "by-offset" {
		t.Fatalf("read by offset: %v", err)
	}
	if _, err := s.ReadMessage(r.PhysOffset+1, nil); !errors.Is(err, ErrOffsetInvalid) {
		t.Fatalf("read at a bad offset: %v", err)
	}
}

func TestOffsetByTime(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1000000)}
	cfg := testConfig(vfs.NewMem())
	cfg.Now = clock.Now
	s := mustOpen(t, cfg)
	defer s.Close()
	for i := 0; i < 10; i++ {
		mustPut(t, s, newMsg("T", 0, "x"))
		clock.Add(10 * time.Second)
	}
	waitDispatched(t, s)
	for _, tc := range []struct{ ts, want int64 }{
		{0, 0}, {1000000, 0}, {1000001, 1}, {1010000, 1}, {1045000, 5}, {1090000, 9}, {1090001, 10}, {9999999, 10},
	} {
		got, err := s.OffsetByTime("T", 0, tc.ts)
		if err != nil || got != tc.want {
			t.Errorf("OffsetByTime(%d) = %d, %v; want %d", tc.ts, got, err, tc.want)
		}
	}
	if ts, err := s.EarliestStoreTime("T", 0); err != nil || ts != 1000000 {
		t.Fatalf("earliest %d %v", ts, err)
	}
	if ts, _ := s.EarliestStoreTime("T", 5); ts != -1 {
		t.Fatalf("earliest of unknown queue %d", ts)
	}
}

func TestStoreTimestampsNeverGoBack(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(5000000)}
	cfg := testConfig(vfs.NewMem())
	cfg.Now = clock.Now
	s := mustOpen(t, cfg)
	defer s.Close()
	a := mustPut(t, s, newMsg("T", 0, "a"))
	clock.Add(-time.Hour)
	b := mustPut(t, s, newMsg("T", 0, "b"))
	if b.StoreTimestamp < a.StoreTimestamp {
		t.Fatalf("store time went back: %d then %d", a.StoreTimestamp, b.StoreTimestamp)
	}
}

func TestTagsCodeHook(t *testing.T) {
	cfg := testConfig(vfs.NewMem())
	cfg.TagsCode = func(topic []byte, q int32, props []byte, ts int64) (int64, bool) {
		if string(topic) != "SCHED" {
			return 0, false
		}
		return ts + int64(q+1)*1000, true
	}
	s := mustOpen(t, cfg)
	defer s.Close()
	r := mustPut(t, s, newMsg("SCHED", 2, "x", "TAGS", "A"))
	mustPut(t, s, newMsg("T", 0, "y", "TAGS", "A"))
	waitDispatched(t, s)
	e, _ := s.cqs.get("SCHED", 2).entry(0)
	if e.tagsCode != r.StoreTimestamp+3000 {
		t.Fatalf("hooked tags code %d, want %d", e.tagsCode, r.StoreTimestamp+3000)
	}
	if e, _ := s.cqs.get("T", 0).entry(0); e.tagsCode != message.TagsHashCodeString("A") {
		t.Fatalf("unhooked tags code %d", e.tagsCode)
	}
	if err := s.Sync(); err != nil || s.log.flushed.Load() != s.log.appended.Load() {
		t.Fatalf("sync: %v", err)
	}
}

func TestQueueEntries(t *testing.T) {
	s := mustOpen(t, testConfig(vfs.NewMem()))
	defer s.Close()
	var want []PutResult
	for i := 0; i < 150; i++ {
		want = append(want, mustPut(t, s, newMsg("T", 0, "x", "TAGS", "A")))
	}
	waitDispatched(t, s)
	got, err := s.QueueEntries("T", 0, 10, 100, nil)
	if err != nil || len(got) != 100 || got[0].QueueOffset != 10 || got[0].PhysOffset != want[10].PhysOffset ||
		got[99].QueueOffset != 109 || got[5].TagsCode != message.TagsHashCodeString("A") {
		t.Fatalf("%d entries, %v", len(got), err)
	}
	if got, _ := s.QueueEntries("T", 0, 140, 100, nil); len(got) != 10 {
		t.Fatalf("tail: %d", len(got))
	}
	if got, _ := s.QueueEntries("X", 0, 0, 10, nil); len(got) != 0 {
		t.Fatal("unknown queue has entries")
	}
}
