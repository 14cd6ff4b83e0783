package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/testserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestProducer(t testing.TB, c *testserver.Cluster, mod func(*ProducerConfig)) *Producer {
	t.Helper()
	cfg := ProducerConfig{
		Config: Config{NameServers: []string{c.NamesrvAddr}, InstanceName: t.Name(), Logger: quietLogger()},
		Group:  "pg",
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var uniqKeyLayout = regexp.MustCompile(`^[0-9A-F]{32}$`)

func TestSendStoresMessage(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Orders", 4)
	p := newTestProducer(t, c, nil)
	msg := &Message{Topic: "Orders", Body: []byte("order 42"), Tags: "paid", Keys: []string{"order-42", "customer-7"},
		Properties: map[string]string{"region": "eu"}, Flag: 7}
	res, err := p.Send(testCtx(t), msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != SendOK || !uniqKeyLayout.MatchString(res.MsgID) || res.Queue.Topic != "Orders" ||
		res.Queue.BrokerName != "broker-0" || res.RegionID != "DefaultRegion" || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	_, physOff, err := message.ParseOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		t.Fatal(err)
	}
	got := c.AllMessages("Orders")
	if len(got) != 1 {
		t.Fatalf("%d messages stored", len(got))
	}
	m := got[0]
	if string(m.Body) != "order 42" || m.Properties["TAGS"] != "paid" || m.Properties["KEYS"] != "order-42 customer-7" ||
		m.Properties["region"] != "eu" || m.Properties["UNIQ_KEY"] != res.MsgID || m.Flag != 7 ||
		int(m.QueueID) != res.Queue.QueueID || m.QueueOffset != res.QueueOffset || m.PhysicalOffset != physOff {
		t.Fatalf("stored %+v, props %v; result %+v", m, m.Properties, res)
	}
	// The id's layout carries the send time (ms since the month began).
	now := time.Now()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	ms, _ := strconv.ParseUint(res.MsgID[20:28], 16, 32)
	if d := now.Sub(monthStart.Add(time.Duration(ms) * time.Millisecond)); d < 0 || d > time.Minute {
		t.Fatalf("UNIQ_KEY %s encodes %d ms since the month began; now is %v after it", res.MsgID, ms, now.Sub(monthStart))
	}
}

func TestSendAutoCreatesTopic(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	p := newTestProducer(t, c, nil)
	for i := range 8 {
		if _, err := p.Send(testCtx(t), NewMessage("Fresh", []byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	got := c.AllMessages("Fresh")
	queues := map[int32]int{}
	for _, m := range got {
		queues[m.QueueID]++
	}
	// Auto-created with the client's 4 queues; round robin used each twice.
	if len(got) != 8 || len(queues) != 4 {
		t.Fatalf("%d messages over queues %v", len(got), queues)
	}
	for q, n := range queues {
		if n != 2 {
			t.Fatalf("queue %d got %d messages: %v", q, n, queues)
		}
	}
}

func TestSendBatch(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("B", 2)
	p := newTestProducer(t, c, nil)
	var msgs []*Message
	for i := range 5 {
		msgs = append(msgs, &Message{Topic: "B", Body: []byte("m" + strconv.Itoa(i)), Keys: []string{"k" + strconv.Itoa(i)}})
	}
	res, err := p.Send(testCtx(t), msgs...)
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Split(res.MsgID, ",")
	got := c.AllMessages("B")
	if len(got) != 5 || len(ids) != 5 || len(strings.Split(res.OffsetMsgID, ",")) != 5 {
		t.Fatalf("%d stored, result %+v", len(got), res)
	}
	for i, m := range got {
		if string(m.Body) != "m"+strconv.Itoa(i) || m.Properties["UNIQ_KEY"] != ids[i] || int(m.QueueID) != res.Queue.QueueID ||
			m.QueueOffset != res.QueueOffset+int64(i) || m.Properties["KEYS"] != "k"+strconv.Itoa(i) {
			t.Fatalf("message %d: %+v %v", i, m, m.Properties)
		}
	}
	if _, err := p.Send(testCtx(t), NewMessage("B", []byte("x")), NewMessage("Other", []byte("y"))); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("batch of two topics: %v", err)
	}
}

func TestSendDelayedAndTimed(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Later", 1)
	p := newTestProducer(t, c, nil)
	sent := time.Now()
	if _, err := p.Send(testCtx(t), &Message{Topic: "Later", Body: []byte("level"), DelayLevel: 1}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	if _, err := p.Send(testCtx(t), &Message{Topic: "Later", Body: []byte("timer"), DeliverAt: at}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.AllMessages("Later")); n != 0 {
		t.Fatalf("%d delayed messages delivered at once", n)
	}
	testserver.Eventually(t, 15*time.Second, func() bool { return len(c.AllMessages("Later")) == 2 })
	for _, m := range c.AllMessages("Later") {
		stored := time.UnixMilli(m.StoreTimestamp)
		switch string(m.Body) {
		case "level":
			if stored.Before(sent.Add(time.Second).Truncate(time.Millisecond)) {
				t.Errorf("delay level 1 delivered %v after the send", stored.Sub(sent))
			}
		case "timer":
			if stored.Before(at) {
				t.Errorf("timer message delivered at %v, before %v", stored, at)
			}
		}
	}
}

func TestSendCompressesLargeBodies(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Big", 1)
	p := newTestProducer(t, c, nil)
	big := bytes.Repeat([]byte("petrel "), 2000) // 14 KB, compressible
	if _, err := p.Send(testCtx(t), NewMessage("Big", big), NewMessage("Big", []byte("small"))); err != nil {
		t.Fatal(err) // a batch: never compressed
	}
	if _, err := p.Send(testCtx(t), NewMessage("Big", big)); err != nil {
		t.Fatal(err)
	}
	got := c.AllMessages("Big")
	if len(got) != 3 || got[0].SysFlag&message.FlagCompressed != 0 || got[2].SysFlag&message.FlagCompressed == 0 ||
		len(got[2].Body) >= len(big) {
		t.Fatalf("stored sysFlags %d %d, sizes %d %d", got[0].SysFlag, got[2].SysFlag, len(got[0].Body), len(got[2].Body))
	}
	ext := messageExtOf(got[2], "broker-0")
	if !bytes.Equal(ext.Body, big) {
		t.Fatal("the compressed body does not inflate to the original")
	}
}

func TestHashSelectorKeepsKeysOnOneQueue(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Ordered", 8)
	p := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.Selector = HashSelector{} })
	for i := range 30 {
		key := "order-" + strconv.Itoa(i%3)
		if _, err := p.Send(testCtx(t), &Message{Topic: "Ordered", Body: []byte(strconv.Itoa(i)), ShardingKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	queueOf := map[string]int32{}
	last := map[string]int{}
	for _, m := range c.AllMessages("Ordered") {
		key := m.Properties["SHARDING_KEY"]
		if q, ok := queueOf[key]; ok && q != m.QueueID {
			t.Fatalf("key %s on queues %d and %d", key, q, m.QueueID)
		}
		queueOf[key] = m.QueueID
		n, _ := strconv.Atoi(string(m.Body))
		if prev, ok := last[key]; ok && n < prev {
			t.Fatalf("key %s out of order: %d after %d", key, n, prev)
		}
		last[key] = n
	}
	if len(queueOf) != 3 {
		t.Fatalf("keys %v", queueOf)
	}
}

func TestSelectorFunc(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Chosen", 4)
	p := newTestProducer(t, c, func(cfg *ProducerConfig) {
		cfg.Selector = SelectorFunc(func(_ *Message, qs []MessageQueue, _ SelectHint) MessageQueue { return qs[2] })
	})
	for range 3 {
		if _, err := p.Send(testCtx(t), NewMessage("Chosen", []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.AllMessages("Chosen") {
		if m.QueueID != 2 {
			t.Fatalf("stored on queue %d", m.QueueID)
		}
	}
}

func TestSendAsyncPipelined(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Async", 4)
	p := newTestProducer(t, c, nil)
	const n = 2000
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ids  = map[string]bool{}
		errs []error
	)
	wg.Add(n)
	for i := range n {
		err := p.SendAsync(testCtx(t), NewMessage("Async", []byte(strconv.Itoa(i))), func(res *SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ids[res.MsgID] = true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(errs) > 0 || len(ids) != n {
		t.Fatalf("%d errors (first %v), %d ids", len(errs), errors.Join(errs...), len(ids))
	}
	got := c.AllMessages("Async")
	if len(got) != n {
		t.Fatalf("%d stored", len(got))
	}
	for _, m := range got {
		if !ids[m.Properties["UNIQ_KEY"]] {
			t.Fatalf("stored message %s was not acknowledged", m.Properties["UNIQ_KEY"])
		}
	}
}

func TestSendOneway(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Fire", 1)
	p := newTestProducer(t, c, nil)
	for i := range 10 {
		if err := p.SendOneway(testCtx(t), NewMessage("Fire", []byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return len(c.AllMessages("Fire")) == 10 })
}

func TestInvalidMessages(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	p := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.MaxMessageSize = 10 })
	for name, m := range map[string]*Message{
		"empty body":   NewMessage("T", nil),
		"bad topic":    NewMessage("a/b", []byte("x")),
		"too large":    NewMessage("T", []byte("01234567890")),
		"both delays":  {Topic: "T", Body: []byte("x"), DelayLevel: 2, DeliverAt: time.Now()},
		"reserved key": {Topic: "T", Body: []byte("x"), Properties: map[string]string{"UNIQ_KEY": "x"}},
	} {
		if _, err := p.Send(testCtx(t), m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestClosedProducerRefuses(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	p := newTestProducer(t, c, nil)
	p.Close()
	if _, err := p.Send(context.Background(), NewMessage("T", []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := p.SendAsync(context.Background(), NewMessage("T", []byte("x")), func(*SendResult, error) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendAsync after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestProducersShareAnInstance(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Shared", 2)
	p1 := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.Group = "g1" })
	p2 := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.Group = "g2" })
	if p1.inst != p2.inst {
		t.Fatal("producers with one config have separate instances")
	}
	if _, err := NewProducer(ProducerConfig{Config: p1.cfg.Config, Group: "g1"}); err == nil {
		t.Fatal("a second producer of group g1 in one instance was accepted")
	}
	p1.Close()
	if _, err := p2.Send(testCtx(t), NewMessage("Shared", []byte("x"))); err != nil {
		t.Fatalf("send after the other producer closed: %v", err)
	}
}

// recordingListener decides by body and records what it was asked.
type recordingListener struct {
	mu      sync.Mutex
	checked []*MessageExt
	execute TransactionState
	check   TransactionState
}

func (l *recordingListener) ExecuteLocal(_ context.Context, msg *Message, res *SendResult) TransactionState {
	switch string(msg.Body) {
	case "commit":
		return TransactionCommit
	case "rollback":
		return TransactionRollback
	}
	return l.execute
}

func (l *recordingListener) CheckLocal(_ context.Context, msg *MessageExt) TransactionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checked = append(l.checked, msg)
	return l.check
}

func (l *recordingListener) checks() []*MessageExt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*MessageExt(nil), l.checked...)
}

func TestSendInTransaction(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Tx", 2)
	l := &recordingListener{}
	p := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.TransactionListener = l; cfg.Group = "txg" })
	for _, body := range []string{"commit", "rollback"} {
		res, err := p.SendInTransaction(testCtx(t), NewMessage("Tx", []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		if res.State.String() != strings.ToUpper(body) {
			t.Fatalf("%s: state %v", body, res.State)
		}
	}
	got := c.AllMessages("Tx")
	if len(got) != 1 || string(got[0].Body) != "commit" || message.TransactionType(got[0].SysFlag) != message.TransactionCommitType ||
		got[0].Properties["PGROUP"] != "txg" {
		t.Fatalf("committed topic holds %d messages: %+v", len(got), got)
	}
}

func TestTransactionCheckBack(t *testing.T) {
	c := testserver.Start(t, testserver.Options{Configure: func(_ int, cfg *config.Broker) {
		cfg.TransactionTimeout = 100 * time.Millisecond
		cfg.TransactionCheckInterval = 100 * time.Millisecond
	}})
	c.CreateTopic("TxCheck", 1)
	l := &recordingListener{execute: TransactionUnknown, check: TransactionCommit}
	p := newTestProducer(t, c, func(cfg *ProducerConfig) { cfg.TransactionListener = l; cfg.Group = "txcheck" })
	res, err := p.SendInTransaction(testCtx(t), &Message{Topic: "TxCheck", Body: []byte("decide later"), Keys: []string{"k1"}})
	if err != nil || res.State != TransactionUnknown {
		t.Fatalf("%+v, %v", res, err)
	}
	testserver.Eventually(t, 15*time.Second, func() bool { return len(c.AllMessages("TxCheck")) == 1 })
	checks := l.checks()
	if len(checks) == 0 {
		t.Fatal("committed without a check")
	}
	m := checks[0]
	if m.MsgID != res.MsgID || string(m.Body) != "decide later" || m.Topic != "TxCheck" || m.TransactionID != res.MsgID ||
		fmt.Sprint(m.Keys) != "[k1]" {
		t.Fatalf("checked %+v", m)
	}
	if got := c.AllMessages("TxCheck")[0]; got.Properties["UNIQ_KEY"] != res.MsgID {
		t.Fatalf("committed %v", got.Properties)
	}
}
