package store

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

var (
	testStoreHost = netip.MustParseAddrPort("10.1.2.3:10911")
	testBornHost  = netip.MustParseAddrPort("10.9.9.9:50000")
)

// testConfig is a small store on an in-memory file system.
func testConfig(fs vfs.FS) Config {
	return Config{
		Dir:                  "/store",
		CommitLogSegmentSize: 64 << 10,
		ConsumeQueueEntries:  64,
		IndexHashSlots:       64,
		IndexMaxEntries:      256,
		MaxRecordSize:        16 << 10,
		StoreHost:            testStoreHost,
		FS:                   fs,
		FlushInterval:        10 * time.Millisecond,
		CheckpointInterval:   20 * time.Millisecond,
		CleanInterval:        time.Hour,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func newMsg(topic string, queue int32, body string, props ...string) *message.Message {
	return &message.Message{
		Topic:         topic,
		QueueID:       queue,
		BornTimestamp: 1700000000000,
		BornHost:      testBornHost,
		StoreHost:     testStoreHost,
		Body:          []byte(body),
		Properties:    message.EncodeProperties(nil, props...),
	}
}

func mustPut(t testing.TB, s *Store, m *message.Message) PutResult {
	t.Helper()
	r, err := s.Put(m)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return r
}

// decodeAll decodes a GetResult buffer.
func decodeAll(t testing.TB, b []byte) []*message.Ext {
	t.Helper()
	msgs, err := message.DecodeAll(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return msgs
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type tagFilter map[int64]bool

func (f tagFilter) MatchTagsCode(c int64) bool { return f[c] }

// recordingListener collects arrivals.
type recordingListener struct {
	mu   sync.Mutex
	seen []string
	ch   chan struct{}
}

func (l *recordingListener) Arrived(topic string, q int32, off, tags, ts int64) {
	l.mu.Lock()
	l.seen = append(l.seen, fmt.Sprintf("%s/%d/%d", topic, q, off))
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// isSegment reports whether name is a commit-log segment (not one the
// warmer is preparing), for file-system wrappers that watch the log.
func isSegment(name string) bool {
	return strings.Contains(name, "/commitlog/") && !isWarmLeftover(name)
}
