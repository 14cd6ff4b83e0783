package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/testserver"
)

// fastRetries makes every delay level 100 ms, so send-backs come back
// quickly in tests.
func fastRetries(_ int, cfg *config.Broker) {
	for i := range cfg.MessageDelayLevel {
		cfg.MessageDelayLevel[i] = 100 * time.Millisecond
	}
}

func startCluster(t *testing.T, brokers int) *testserver.Cluster {
	return testserver.Start(t, testserver.Options{Brokers: brokers, Configure: fastRetries})
}

// newTestConsumer starts a push consumer of group on topic; instance names
// the member (one client id per member).
func newTestConsumer(t *testing.T, c *testserver.Cluster, group, topic, instance string, mod func(*PushConsumerConfig)) *PushConsumer {
	t.Helper()
	cfg := PushConsumerConfig{
		Config:                Config{NameServers: []string{c.NamesrvAddr}, InstanceName: instance, Logger: quietLogger()},
		Group:                 group,
		ConsumeFrom:           ConsumeFromFirstOffset,
		PersistOffsetInterval: 100 * time.Millisecond,
		LocalRetryDelay:       100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	pc, err := NewPushConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, "*"); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// sendN sends n messages with bodies prefix-0 ... and returns their ids.
func sendN(t *testing.T, p *Producer, topic, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		res, err := p.Send(testCtx(t), &Message{Topic: topic, Body: []byte(prefix + "-" + strconv.Itoa(i)), Keys: []string{prefix + strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.MsgID)
	}
	return ids
}

// received collects consumed message ids.
type received struct {
	mu  sync.Mutex
	ids map[string]int
}

func newReceived() *received { return &received{ids: make(map[string]int)} }

func (r *received) add(msgs []*MessageExt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.ids[m.MsgID]++
	}
}

func (r *received) hasAll(ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.ids[id] == 0 {
			return false
		}
	}
	return true
}

func collect(r *received) ConcurrentListener {
	return func(_ context.Context, msgs []*MessageExt) ConsumeResult {
		r.add(msgs)
		return ConsumeSuccess
	}
}

// committedOffset asks the broker for a group's committed offset.
func committedOffset(c *testserver.Cluster, b *testserver.Broker, group, topic string, queue int) int64 {
	resp := c.Invoke(b.Addr, protocol.QueryConsumerOffset, protocol.FieldsOf("consumerGroup", group, "topic", topic, "queueId", strconv.Itoa(queue)), nil)
	if resp.Code != protocol.Success {
		return -1
	}
	off, _ := strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
	return off
}

func TestPushConsumerConsumesEverythingAndCommits(t *testing.T) {
	c := startCluster(t, 2)
	c.CreateTopic("Orders", 4)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Orders", "o", 100)
	got := newReceived()
	var batchMax atomic.Int32
	pc := newTestConsumer(t, c, "g1", "Orders", "c1", func(cfg *PushConsumerConfig) {
		cfg.ConsumeBatchSize = 4
		cfg.Listener = func(ctx context.Context, msgs []*MessageExt) ConsumeResult {
			if n := int32(len(msgs)); n > batchMax.Load() {
				batchMax.Store(n)
			}
			for _, m := range msgs {
				if m.Topic != "Orders" || m.Queue.Topic != "Orders" {
					t.Errorf("message of %s from %s", m.Topic, m.Queue)
				}
			}
			return collect(got)(ctx, msgs)
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool { return got.hasAll(ids) })
	if n := batchMax.Load(); n < 1 || n > 4 {
		t.Errorf("batch of %d messages; ConsumeBatchSize is 4", n)
	}
	// 4 queues and a retry queue on each broker (the retry topic's route
	// may come a little later).
	testserver.Eventually(t, 10*time.Second, func() bool { return len(pc.Assignment()) == 8+2 })
	pc.Close()
	var total int64
	for _, b := range c.Brokers {
		for q := range 4 {
			total += committedOffset(c, b, "g1", "Orders", q)
		}
	}
	if total != 100 {
		t.Fatalf("committed offsets add up to %d after Close, want 100", total)
	}
}

func TestTagFilter(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Tagged", 2)
	p := newTestProducer(t, c, nil)
	var want []string
	for i := range 20 {
		tag := []string{"TagA", "TagB", "TagC"}[i%3]
		res, err := p.Send(testCtx(t), &Message{Topic: "Tagged", Body: []byte("x"), Tags: tag})
		if err != nil {
			t.Fatal(err)
		}
		if tag != "TagB" {
			want = append(want, res.MsgID)
		}
	}
	got := newReceived()
	var wrong atomic.Int32
	cfg := PushConsumerConfig{Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "tags", Logger: quietLogger()},
		Group: "gtag", ConsumeFrom: ConsumeFromFirstOffset,
		Listener: func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			for _, m := range msgs {
				if m.Tags == "TagB" {
					wrong.Add(1)
				}
			}
			got.add(msgs)
			return ConsumeSuccess
		}}
	pc, err := NewPushConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe("Tagged", "TagA || TagC"); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	testserver.Eventually(t, 10*time.Second, func() bool { return got.hasAll(want) })
	if wrong.Load() != 0 {
		t.Fatalf("%d TagB messages delivered", wrong.Load())
	}
}

// topicQueues returns the queues of topic in an assignment.
func topicQueues(a []MessageQueue, topic string) []MessageQueue {
	var out []MessageQueue
	for _, mq := range a {
		if mq.Topic == topic {
			out = append(out, mq)
		}
	}
	return out
}

// splitsExactly reports whether the members' queues of topic are disjoint
// and cover all n queues.
func splitsExactly(topic string, n int, members ...*PushConsumer) bool {
	seen := make(map[MessageQueue]bool)
	for _, m := range members {
		for _, mq := range topicQueues(m.Assignment(), topic) {
			if seen[mq] {
				return false
			}
			seen[mq] = true
		}
	}
	return len(seen) == n
}

func TestRebalanceJoinLeaveLosesNothing(t *testing.T) {
	c := startCluster(t, 2)
	c.CreateTopic("Jobs", 4)
	p := newTestProducer(t, c, nil)
	got := newReceived()
	mod := func(cfg *PushConsumerConfig) { cfg.Listener = collect(got) }
	ids := sendN(t, p, "Jobs", "a", 100)
	c1 := newTestConsumer(t, c, "gjobs", "Jobs", "m1", mod)
	c2 := newTestConsumer(t, c, "gjobs", "Jobs", "m2", mod)
	// Both rebalanced: c1 alone covering all 8 also splits "exactly".
	testserver.Eventually(t, 10*time.Second, func() bool {
		return splitsExactly("Jobs", 8, c1, c2) &&
			len(topicQueues(c1.Assignment(), "Jobs")) == 4 && len(topicQueues(c2.Assignment(), "Jobs")) == 4
	})
	c3 := newTestConsumer(t, c, "gjobs", "Jobs", "m3", mod)
	testserver.Eventually(t, 10*time.Second, func() bool {
		return splitsExactly("Jobs", 8, c1, c2, c3) && len(topicQueues(c3.Assignment(), "Jobs")) > 0
	})
	ids = append(ids, sendN(t, p, "Jobs", "b", 100)...)
	c3.Close()
	testserver.Eventually(t, 10*time.Second, func() bool { return splitsExactly("Jobs", 8, c1, c2) })
	ids = append(ids, sendN(t, p, "Jobs", "c", 100)...)
	testserver.Eventually(t, 15*time.Second, func() bool { return got.hasAll(ids) })
}

func TestNotifyConsumerIDsChangedRebalancesAtOnce(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Notify", 4)
	slow := func(cfg *PushConsumerConfig) {
		cfg.Listener = collect(newReceived())
		cfg.RebalanceInterval = time.Hour // only a notification can trigger it
	}
	c1 := newTestConsumer(t, c, "gnotify", "Notify", "n1", slow)
	testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(c1.Assignment(), "Notify")) == 4 })
	c2 := newTestConsumer(t, c, "gnotify", "Notify", "n2", slow)
	testserver.Eventually(t, 10*time.Second, func() bool { return splitsExactly("Notify", 4, c1, c2) })
}

func TestNewQueuesPickedUpWithRouteRefresh(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Grow", 2)
	pc := newTestConsumer(t, c, "ggrow", "Grow", "g1", func(cfg *PushConsumerConfig) {
		cfg.Listener = collect(newReceived())
		cfg.RouteRefreshInterval = 100 * time.Millisecond
		cfg.RebalanceInterval = time.Hour
	})
	testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(pc.Assignment(), "Grow")) == 2 })
	c.CreateTopic("Grow", 6)
	testserver.Eventually(t, 10*time.Second, func() bool { return len(topicQueues(pc.Assignment(), "Grow")) == 6 })
}

func TestRetryThenSuccess(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Flaky", 2)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Flaky", "f", 10)
	var mu sync.Mutex
	attempts := make(map[string][]*MessageExt)
	done := newReceived()
	newTestConsumer(t, c, "gflaky", "Flaky", "r1", func(cfg *PushConsumerConfig) {
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			m := msgs[0]
			attempts[m.MsgID] = append(attempts[m.MsgID], m)
			if len(attempts[m.MsgID]) == 1 {
				return ReconsumeLater
			}
			done.add(msgs)
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool { return done.hasAll(ids) })
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		a := attempts[id]
		if len(a) != 2 {
			t.Fatalf("message %s consumed %d times", id, len(a))
		}
		second := a[1]
		if second.Topic != "Flaky" || second.Queue.Topic != "%RETRY%gflaky" || second.ReconsumeTimes != 1 || string(second.Body) != string(a[0].Body) {
			t.Fatalf("redelivery: topic %s queue %s reconsume %d body %q", second.Topic, second.Queue, second.ReconsumeTimes, second.Body)
		}
	}
}

func TestDeadLetterAfterMaxReconsumeTimes(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Poison", 1)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Poison", "p", 1)
	var calls atomic.Int32
	newTestConsumer(t, c, "gpoison", "Poison", "d1", func(cfg *PushConsumerConfig) {
		cfg.MaxReconsumeTimes = 2
		cfg.Listener = func(context.Context, []*MessageExt) ConsumeResult {
			calls.Add(1)
			return ReconsumeLater
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool { return len(c.AllMessages("%DLQ%gpoison")) == 1 })
	dlq := c.AllMessages("%DLQ%gpoison")[0]
	if dlq.Properties["UNIQ_KEY"] != ids[0] || dlq.ReconsumeTimes != 3 {
		t.Fatalf("DLQ message %v reconsumeTimes %d", dlq.Properties, dlq.ReconsumeTimes)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("listener called %d times, want 3 (first delivery + 2 retries)", n)
	}
}

func TestConsumeTimeoutRetriesTheMessage(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Slow", 1)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Slow", "s", 1)
	release := make(chan struct{})
	defer close(release)
	var mu sync.Mutex
	var deliveries []int32
	newTestConsumer(t, c, "gslow", "Slow", "t1", func(cfg *PushConsumerConfig) {
		cfg.ConsumeTimeout = 300 * time.Millisecond
		cfg.Listener = func(ctx context.Context, msgs []*MessageExt) ConsumeResult {
			mu.Lock()
			deliveries = append(deliveries, msgs[0].ReconsumeTimes)
			first := len(deliveries) == 1
			mu.Unlock()
			if first {
				<-ctx.Done() // the deadline is the consume timeout
				<-release    // and keep running past it
			}
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(deliveries) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if deliveries[0] != 0 || deliveries[1] != 1 {
		t.Fatalf("deliveries' reconsume times %v of %s", deliveries, ids[0])
	}
}

func TestOffsetCommittedUpToLowestInFlight(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Inflight", 1)
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Inflight", "i", 10)
	c.Brokers[0].WaitDispatched(t)
	release := make(chan struct{})
	var others atomic.Int32
	newTestConsumer(t, c, "ginflight", "Inflight", "i1", func(cfg *PushConsumerConfig) {
		cfg.ConsumeGoroutines = 4
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			if msgs[0].QueueOffset == 3 {
				<-release
				return ConsumeSuccess
			}
			others.Add(1)
			return ConsumeSuccess
		}
	})
	testserver.Eventually(t, 10*time.Second, func() bool { return others.Load() == 9 })
	// Messages 4..9 are done, 3 is not: the commit stops at 3.
	testserver.Eventually(t, 10*time.Second, func() bool { return committedOffset(c, c.Brokers[0], "ginflight", "Inflight", 0) == 3 })
	close(release)
	testserver.Eventually(t, 10*time.Second, func() bool { return committedOffset(c, c.Brokers[0], "ginflight", "Inflight", 0) == 10 })
}

func TestBroadcastingEveryMemberGetsEverything(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("News", 2)
	p := newTestProducer(t, c, nil)
	dir := t.TempDir()
	members := make([]*received, 2)
	consumers := make([]*PushConsumer, 2)
	for i := range members {
		members[i] = newReceived()
		consumers[i] = newTestConsumer(t, c, "gnews", "News", "b"+strconv.Itoa(i), func(cfg *PushConsumerConfig) {
			cfg.Model = Broadcasting
			cfg.OffsetStoreDir = dir
			cfg.Listener = collect(members[i])
		})
	}
	ids := sendN(t, p, "News", "n", 20)
	for _, m := range members {
		testserver.Eventually(t, 10*time.Second, func() bool { return m.hasAll(ids) })
	}
	for _, pc := range consumers {
		if a := pc.Assignment(); len(a) != 2 {
			t.Fatalf("broadcasting member owns %v, want both queues and no retry queue", a)
		}
	}
	consumers[0].Close()
	// A restarted member resumes from its local offsets: it gets only new
	// messages.
	again := newReceived()
	newTestConsumer(t, c, "gnews", "News", "b0", func(cfg *PushConsumerConfig) {
		cfg.Model = Broadcasting
		cfg.OffsetStoreDir = dir
		cfg.Listener = collect(again)
	})
	fresh := sendN(t, p, "News", "m", 5)
	testserver.Eventually(t, 10*time.Second, func() bool { return again.hasAll(fresh) })
	again.mu.Lock()
	defer again.mu.Unlock()
	for _, id := range ids {
		if again.ids[id] != 0 {
			t.Fatalf("old message %s delivered again after restart", id)
		}
	}
}

func TestConsumeFrom(t *testing.T) {
	// Like RocketMQ 4.9, petrel answers offset 0 to a group without one on
	// a queue whose first message is "in memory"; a ratio of 0 turns that
	// off so ConsumeFrom decides.
	c := testserver.Start(t, testserver.Options{Configure: func(_ int, cfg *config.Broker) { cfg.AccessMessageInMemoryMaxRatio = 0 }})
	c.CreateTopic("Where", 1)
	p := newTestProducer(t, c, nil)
	sendN(t, p, "Where", "old", 5)
	c.Brokers[0].WaitDispatched(t)
	afterOld := time.Now().Add(50 * time.Millisecond)
	for _, tc := range []struct {
		name string
		from ConsumeFrom
	}{
		{"first", ConsumeFromFirstOffset},
		{"last", ConsumeFromLastOffset},
		{"timestamp", ConsumeFromTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []string
			group := "gwhere-" + tc.name
			newTestConsumer(t, c, group, "Where", "w-"+tc.name, func(cfg *PushConsumerConfig) {
				cfg.ConsumeFrom = tc.from
				cfg.ConsumeTimestamp = afterOld
				cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
					mu.Lock()
					defer mu.Unlock()
					for _, m := range msgs {
						bodies = append(bodies, string(m.Body))
					}
					return ConsumeSuccess
				}
			})
			// The queue is owned (its start offset committed) before the new
			// message is sent.
			testserver.Eventually(t, 10*time.Second, func() bool { return committedOffset(c, c.Brokers[0], group, "Where", 0) >= 0 })
			for time.Now().Before(afterOld) {
				time.Sleep(time.Millisecond) // the new message must be stored after afterOld
			}
			sendN(t, p, "Where", "new", 1)
			testserver.Eventually(t, 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return slices.Contains(bodies, "new-0") && (tc.from != ConsumeFromFirstOffset || len(bodies) == 6)
			})
			mu.Lock()
			defer mu.Unlock()
			// Messages are consumed concurrently: compare sets, not order.
			if old := slices.ContainsFunc(bodies, func(b string) bool { return strings.HasPrefix(b, "old-") }); old != (tc.from == ConsumeFromFirstOffset) {
				t.Fatalf("consumed %v", bodies)
			}
		})
	}
}

func TestPushConsumerConfigErrors(t *testing.T) {
	ns := Config{NameServers: []string{"127.0.0.1:1"}}
	listener := func(context.Context, []*MessageExt) ConsumeResult { return ConsumeSuccess }
	for _, cfg := range []PushConsumerConfig{
		{Config: ns, Listener: listener},
		{Config: ns, Group: "g"},
		{Config: ns, Group: "g", Listener: listener, Orderly: listener},
		{Group: "g", Listener: listener},
	} {
		if _, err := NewPushConsumer(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	pc, err := NewPushConsumer(PushConsumerConfig{Config: ns, Group: "g", Listener: listener})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(context.Background()); err == nil {
		t.Fatal("Start without a subscription succeeded")
	}
	if err := pc.Subscribe("bad topic!", "*"); err == nil {
		t.Fatal("invalid topic accepted")
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
}

func ExampleConsumeResult() {
	fmt.Println(ConsumeSuccess, ReconsumeLater)
	// Output: CONSUME_SUCCESS RECONSUME_LATER
}

// failingOffsets fails every commit with err.
type failingOffsets struct{ err error }

func (f failingOffsets) read(context.Context, MessageQueue) (int64, bool, error) {
	return 0, false, f.err
}
func (f failingOffsets) commit(context.Context, MessageQueue, int64) error { return f.err }

// warnCounter counts the records at Warn and above.
type warnCounter struct{ n atomic.Int32 }

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

// A periodic commit cut short by Close is not a failure worth a warning
// (Close commits again); any other failed commit is.
func TestCommitInterruptedByCloseIsNotWarned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		closing bool
		err     error
		warned  bool
	}{
		{"closing, cancelled", true, context.Canceled, false},
		{"closing, other error", true, errors.New("connection refused"), true},
		{"running, cancelled", false, context.Canceled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w warnCounter
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.closing {
				cancel()
			}
			c := &PushConsumer{log: slog.New(&w), ctx: ctx, offsets: failingOffsets{tc.err}}
			pq := newProcessQueue(MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}, nil, 42)
			c.commitQueue(context.Background(), pq)
			if got := w.n.Load() > 0; got != tc.warned {
				t.Fatalf("warned %v, want %v", got, tc.warned)
			}
			if pq.committed != -1 {
				t.Fatalf("a failed commit marked offset %d committed", pq.committed)
			}
		})
	}
}
