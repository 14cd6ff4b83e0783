package compat

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

const (
	// deliverTimeout bounds waiting for messages to reach a consumer. The Go
	// client rebalances at Start and on NOTIFY_CONSUMER_IDS_CHANGED, then
	// every 20 s, so a generous bound keeps a slow rebalance from failing.
	deliverTimeout = 60 * time.Second
	// opTimeout bounds a single client call made by a test.
	opTimeout = 10 * time.Second
)

// instanceSeq makes client instance names unique in the process. The Go
// client shares one connection manager per client id (ip@instanceName) in a
// global map and refuses a second one with other name servers, and two
// consumers of one group need distinct ids to be two group members.
var instanceSeq atomic.Int64

func instanceName(kind string) string {
	return fmt.Sprintf("compat-%s-%d-%d", kind, os.Getpid(), instanceSeq.Add(1))
}

// eventually polls cond until it holds or timeout passes, then fails t
// with describe's account of the last state.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDelivered waits until in has every body of want; who names the
// consumer in the failure message.
func waitDelivered(t testing.TB, in *Inbox, want []string, who string) {
	t.Helper()
	eventually(t, deliverTimeout, func() bool { return in.HasAll(want) }, func() string {
		m := in.Missing(want)
		return fmt.Sprintf("%s is missing %d of %d messages, e.g. %v", who, len(m), len(want), m[:min(len(m), 10)])
	})
}

func opContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newProducer returns a started producer of a fresh group that is shut
// down when t ends.
func newProducer(t testing.TB, p *Petrel, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	base := []producer.Option{
		producer.WithNameServer(primitive.NamesrvAddr{p.NamesrvAddr}),
		producer.WithGroupName(instanceName("pg")),
		producer.WithInstanceName(instanceName("producer")),
		producer.WithRetry(2),
	}
	prod, err := rocketmq.NewProducer(append(base, opts...)...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := prod.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() { prod.Shutdown() })
	return prod
}

// newAdmin returns an admin client of p's name server, closed when t ends.
func newAdmin(t testing.TB, p *Petrel) admin.Admin {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{p.NamesrvAddr})))
	if err != nil {
		t.Fatalf("new admin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// createTopic creates topic on p's broker with queues read and write queues
// through the admin API and waits until the name server routes it.
func createTopic(t testing.TB, p *Petrel, topic string, queues int) {
	t.Helper()
	adm := newAdmin(t, p)
	err := adm.CreateTopic(opContext(t), admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(p.BrokerAddr),
		admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues))
	if err != nil {
		t.Fatalf("admin CreateTopic(%s): %v", topic, err)
	}
	eventually(t, deliverTimeout, func() bool {
		fresh, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{p.NamesrvAddr})))
		if err != nil {
			return false
		}
		defer fresh.Close()
		mqs, err := fresh.FetchPublishMessageQueues(context.Background(), topic)
		return err == nil && len(mqs) == queues
	}, func() string {
		return fmt.Sprintf("topic %s has no route with %d queues after UPDATE_AND_CREATE_TOPIC", topic, queues)
	})
}

// publishQueues returns topic's write queues as a fresh client sees them.
func publishQueues(t testing.TB, p *Petrel, topic string) ([]*primitive.MessageQueue, error) {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{p.NamesrvAddr})))
	if err != nil {
		t.Fatalf("new admin: %v", err)
	}
	defer adm.Close()
	mqs, err := adm.FetchPublishMessageQueues(context.Background(), topic)
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	return mqs, err
}

// Inbox records what a consumer's callback received. Its Handle method is
// a push-consumer callback that always returns ConsumeSuccess; tests of
// retries use callbacks of their own.
type Inbox struct {
	mu     sync.Mutex
	msgs   []*primitive.MessageExt
	byBody map[string]int
}

func newInbox() *Inbox { return &Inbox{byBody: map[string]int{}} }

// Handle is the consume callback.
func (in *Inbox) Handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	in.Add(msgs...)
	return consumer.ConsumeSuccess, nil
}

// Add records delivered messages.
func (in *Inbox) Add(msgs ...*primitive.MessageExt) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range msgs {
		in.msgs = append(in.msgs, m)
		in.byBody[string(m.Body)]++
	}
}

// Len is the number of deliveries, duplicates included.
func (in *Inbox) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

// Count is how many times a body was delivered.
func (in *Inbox) Count(body string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.byBody[body]
}

// HasAll says whether every body was delivered at least once.
func (in *Inbox) HasAll(bodies []string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, b := range bodies {
		if in.byBody[b] == 0 {
			return false
		}
	}
	return true
}

// Missing lists the bodies never delivered (for failure messages).
func (in *Inbox) Missing(bodies []string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var missing []string
	for _, b := range bodies {
		if in.byBody[b] == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// Duplicates lists bodies delivered more than once, with their counts.
func (in *Inbox) Duplicates() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := map[string]int{}
	for b, n := range in.byBody {
		if n > 1 {
			d[b] = n
		}
	}
	return d
}

// Messages returns the deliveries so far, in arrival order.
func (in *Inbox) Messages() []*primitive.MessageExt {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*primitive.MessageExt(nil), in.msgs...)
}

// ByBody maps each body to its first delivery.
func (in *Inbox) ByBody() map[string]*primitive.MessageExt {
	m := map[string]*primitive.MessageExt{}
	for _, msg := range in.Messages() {
		if _, ok := m[string(msg.Body)]; !ok {
			m[string(msg.Body)] = msg
		}
	}
	return m
}

// PushConsumer is a started push consumer and a view of what it owns.
type PushConsumer struct {
	rocketmq.PushConsumer
	// queues reports the client's process-queue table: every queue the
	// rebalance gave it, with the offset it would commit next.
	queues func() map[primitive.MessageQueue]int64
}

// OwnedQueues returns the queues of topic this consumer currently owns
// with the next offset it would commit for each.
func (c *PushConsumer) OwnedQueues(topic string) map[int]int64 {
	owned := map[int]int64{}
	for mq, off := range c.queues() {
		if mq.Topic == topic {
			owned[mq.QueueId] = off
		}
	}
	return owned
}

// startPushConsumer starts a clustering push consumer of group on topic,
// reading from the first offset when the group has none, delivering into
// in. It is shut down when t ends unless the test shut it down first.
func startPushConsumer(t testing.TB, p *Petrel, group, topic, expr string, in *Inbox, opts ...consumer.Option) *PushConsumer {
	t.Helper()
	c, err := openPushConsumer(p, group, topic, expr, in.Handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}

func openPushConsumer(p *Petrel, group, topic, expr string,
	handle func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error),
	opts ...consumer.Option) (*PushConsumer, error) {
	base := []consumer.Option{
		consumer.WithNameServer(primitive.NamesrvAddr{p.NamesrvAddr}),
		consumer.WithGroupName(group),
		consumer.WithInstance(instanceName("push")),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}
	c, err := consumer.NewPushConsumer(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new push consumer: %w", err)
	}
	sel := consumer.MessageSelector{Type: consumer.TAG, Expression: expr}
	if err := c.Subscribe(topic, sel, handle); err != nil {
		return nil, fmt.Errorf("subscribe %s %q: %w", topic, expr, err)
	}
	if err := c.Start(); err != nil {
		c.Shutdown()
		return nil, fmt.Errorf("start push consumer of %s on %s: %w", group, topic, err)
	}
	queues := func() map[primitive.MessageQueue]int64 {
		info := c.GetConsumerRunningInfo(false)
		m := map[primitive.MessageQueue]int64{}
		for mq, pq := range info.MQTable {
			m[mq] = pq.CommitOffset
		}
		return m
	}
	return &PushConsumer{PushConsumer: c, queues: queues}, nil
}

// committedOffsets asks the broker (QUERY_CONSUMER_OFFSET, through the
// official client's offset store) for group's committed offset of each
// queue; -1 means the broker has none. The probe is a pull consumer of
// group subscribed to probeTopic (a topic nobody else uses), so it owns no
// queue of the queried topic and never writes an offset for it.
func committedOffsets(t testing.TB, p *Petrel, group, probeTopic string, mqs []*primitive.MessageQueue) map[int]int64 {
	t.Helper()
	pc, err := consumer.NewPullConsumer(
		consumer.WithNameServer(primitive.NamesrvAddr{p.NamesrvAddr}),
		consumer.WithGroupName(group),
		consumer.WithInstance(instanceName("probe")),
	)
	if err != nil {
		t.Fatalf("new offset probe: %v", err)
	}
	if err := pc.Subscribe(probeTopic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}); err != nil {
		t.Fatalf("offset probe subscribe: %v", err)
	}
	if err := pc.Start(); err != nil {
		t.Fatalf("offset probe start: %v", err)
	}
	defer pc.Shutdown()
	got := map[int]int64{}
	for _, mq := range mqs {
		off, _ := pc.CurrentOffset(mq) // memory miss, so QUERY_CONSUMER_OFFSET
		got[mq.QueueId] = off
	}
	return got
}

// bodies makes n distinct message bodies.
func bodies(prefix string, n int) []string {
	b := make([]string, n)
	for i := range b {
		b[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return b
}

// sendAllSync sends one message per body with SendSync and requires SEND_OK.
func sendAllSync(t testing.TB, prod rocketmq.Producer, topic string, bs []string) []*primitive.SendResult {
	t.Helper()
	results := make([]*primitive.SendResult, len(bs))
	for i, b := range bs {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		res, err := prod.SendSync(ctx, primitive.NewMessage(topic, []byte(b)))
		cancel()
		if err != nil {
			t.Fatalf("SendSync %s to %s: %v", b, topic, err)
		}
		if res.Status != primitive.SendOK {
			t.Fatalf("SendSync %s: status %d, want SEND_OK (%v)", b, res.Status, res)
		}
		results[i] = res
	}
	return results
}

// pollUntil runs a pull consumer of group on topic, polling and ACKing
// with success until every body in want has been polled, then shuts it
// down (which commits the ACKed offsets).
func pollUntil(t *testing.T, p *Petrel, group, topic string, in *Inbox, want []string) {
	t.Helper()
	pc, err := consumer.NewPullConsumer(
		consumer.WithNameServer(primitive.NamesrvAddr{p.NamesrvAddr}),
		consumer.WithGroupName(group),
		consumer.WithInstance(instanceName("pull")),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		t.Fatalf("new pull consumer: %v", err)
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}); err != nil {
		t.Fatalf("pull consumer subscribe: %v", err)
	}
	if err := pc.Start(); err != nil {
		t.Fatalf("pull consumer start: %v", err)
	}
	defer pc.Shutdown()

	deadline := time.Now().Add(deliverTimeout)
	for !in.HasAll(want) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v the pull consumer is missing %v", deliverTimeout, in.Missing(want))
		}
		cr, err := pc.Poll(context.Background(), time.Second)
		if consumer.IsNoNewMsgError(err) {
			continue
		}
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		in.Add(cr.GetMsgList()...)
		pc.ACK(context.Background(), cr, consumer.ConsumeSuccess)
	}
}
