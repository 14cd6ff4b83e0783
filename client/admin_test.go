package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

func newTestAdmin(t *testing.T, c *testserver.Cluster) *Admin {
	t.Helper()
	a, err := NewAdmin(Config{NameServers: []string{c.NamesrvAddr}, InstanceName: "admin-" + t.Name(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAdminTopicsGroupsAndRoutes(t *testing.T) {
	c := startCluster(t, 2)
	a := newTestAdmin(t, c)
	ctx := testCtx(t)
	if err := a.CreateTopic(ctx, TopicConfig{Topic: "Admin", Queues: 3}); err != nil {
		t.Fatal(err)
	}
	r, err := a.Route(ctx, "Admin")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Brokers) != 2 || len(r.Queues) != 6 || r.Brokers[0].Name != "broker-0" || r.Brokers[0].WriteQueues != 3 || r.Brokers[0].Addrs[0] != c.Brokers[0].Addr {
		t.Fatalf("route %+v", r)
	}
	if err := a.CreateTopic(ctx, TopicConfig{Topic: "OnlyOne", Queues: 2, Brokers: []string{"broker-1"}}); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Route(ctx, "OnlyOne"); err != nil || len(r.Brokers) != 1 || r.Brokers[0].Name != "broker-1" {
		t.Fatalf("route %+v, %v", r, err)
	}
	if err := a.DeleteTopic(ctx, "Admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Route(ctx, "Admin"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("route of a deleted topic: %v", err)
	}
	if err := a.CreateGroup(ctx, GroupConfig{Group: "gadmin", RetryMaxTimes: 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteGroup(ctx, "gadmin"); err != nil {
		t.Fatal(err)
	}
}

func TestAdminConsumeStatsQueriesAndReset(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Stats", 2)
	a := newTestAdmin(t, c)
	p := newTestProducer(t, c, nil)
	ctx := testCtx(t)
	ids := sendN(t, p, "Stats", "s", 10)
	got := newReceived()
	pc := newTestConsumer(t, c, "gstats", "Stats", "st", func(cfg *PushConsumerConfig) { cfg.Listener = collect(got) })
	testserver.Eventually(t, 10*time.Second, func() bool { return got.hasAll(ids) })
	lag := func() int64 {
		stats, err := a.ConsumeStats(ctx, "gstats", "Stats")
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 2 {
			t.Fatalf("stats %+v", stats)
		}
		var sum int64
		for _, s := range stats {
			sum += s.Lag
		}
		return sum
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return lag() == 0 })
	pc.Close()
	sendN(t, p, "Stats", "t", 4)
	c.Brokers[0].WaitDispatched(t)
	if n := lag(); n != 4 {
		t.Fatalf("lag %d with the group offline and 4 new messages", n)
	}

	// Look the first message up three ways.
	res, err := p.Send(ctx, &Message{Topic: "Stats", Body: []byte("find me"), Keys: []string{"order-7"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Brokers[0].WaitDispatched(t)
	m, err := a.ViewMessage(ctx, res.OffsetMsgID)
	if err != nil || string(m.Body) != "find me" || m.MsgID != res.MsgID {
		t.Fatalf("view: %+v, %v", m, err)
	}
	byKey, err := a.QueryByKey(ctx, "Stats", "order-7", time.Now().Add(-time.Hour), time.Time{}, 0)
	if err != nil || len(byKey) != 1 || byKey[0].MsgID != res.MsgID {
		t.Fatalf("by key: %v, %v", byKey, err)
	}
	byID, err := a.QueryByID(ctx, "Stats", res.MsgID)
	if err != nil || string(byID.Body) != "find me" {
		t.Fatalf("by id: %+v, %v", byID, err)
	}
	if _, err := a.QueryByKey(ctx, "Stats", "nope", time.Now().Add(-time.Hour), time.Time{}, 0); !errors.Is(err, ErrMessageNotFound) {
		t.Fatalf("missing key: %v", err)
	}

	// Reset to the beginning: everything is delivered again to a restarted
	// group.
	offs, err := a.ResetOffset(ctx, "Stats", "gstats", time.UnixMilli(0))
	if err != nil || len(offs) != 2 {
		t.Fatalf("reset: %v, %v", offs, err)
	}
	for q, off := range offs {
		if off != 0 {
			t.Fatalf("queue %s reset to %d", q, off)
		}
	}
	if n := lag(); n != 15 {
		t.Fatalf("lag %d after reset, want 15", n)
	}
}

// A reset reaches a running consumer, which starts its queues again there.
func TestResetOffsetReachesRunningConsumer(t *testing.T) {
	c := startCluster(t, 1)
	c.CreateTopic("Replay", 1)
	a := newTestAdmin(t, c)
	p := newTestProducer(t, c, nil)
	ids := sendN(t, p, "Replay", "r", 5)
	var mu sync.Mutex
	counts := map[string]int{}
	newTestConsumer(t, c, "greplay", "Replay", "rp", func(cfg *PushConsumerConfig) {
		cfg.Listener = func(_ context.Context, msgs []*MessageExt) ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				counts[m.MsgID]++
			}
			return ConsumeSuccess
		}
	})
	seenTimes := func(n int) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if counts[id] < n {
				return false
			}
		}
		return true
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return seenTimes(1) })
	testserver.Eventually(t, 10*time.Second, func() bool { return committedOffset(c, c.Brokers[0], "greplay", "Replay", 0) == 5 })
	if _, err := a.ResetOffset(testCtx(t), "Replay", "greplay", time.UnixMilli(0)); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return seenTimes(2) })
}

func TestParseQueueOffsets(t *testing.T) {
	got, err := parseQueueOffsets([]byte(`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:12,{"brokerName":"b{,}","queueId":1,"topic":"T"}: 7 }}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[MessageQueue]int64{{Topic: "T", BrokerName: "b", QueueID: 0}: 12, {Topic: "T", BrokerName: "b{,}", QueueID: 1}: 7}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{`{"offsetTable":{{"brokerName":"b"}`, `{"offsetTable":[1]}`, `{"offsetTable":{{"queueId":"x"}:1}}`} {
		if _, err := parseQueueOffsets([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	if m, err := parseQueueOffsets([]byte(`{}`)); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
}
