package client

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/testserver"
)

// brokerOutage is how long TestSpoolThroughBrokerOutage keeps the broker
// down: issue 8 asks for 30 s.
const brokerOutage = 30 * time.Second

// outageSend is one send of TestSpoolThroughBrokerOutage and its result.
type outageSend struct {
	seq    string // which producer sequence: "app" (p1, then p2) or "side"
	by     string // which producer: p1, p2 or side
	msg    *Message
	id     string
	status SendStatus
}

// deliveries records every message a consumer got, by id.
type deliveries struct {
	mu   sync.Mutex
	byID map[string][]*MessageExt
}

func (d *deliveries) listener(_ context.Context, msgs []*MessageExt) ConsumeResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range msgs {
		d.byID[m.MsgID] = append(d.byID[m.MsgID], m)
	}
	return ConsumeSuccess
}

func (d *deliveries) hasAll(sends []outageSend) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range sends {
		if len(d.byID[s.id]) == 0 {
			return false
		}
	}
	return true
}

func outageProducer(t *testing.T, nameServer, instance, dir string) *Producer {
	t.Helper()
	p, err := NewProducer(ProducerConfig{
		Config:      Config{NameServers: []string{nameServer}, InstanceName: instance, Logger: quietLogger()},
		Group:       "outage",
		SendTimeout: 2 * time.Second,
		Spool:       &SpoolConfig{Dir: dir, RetryInterval: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestSpoolThroughBrokerOutage is issue 8's spool proof with a real
// broker: the only broker of the topic is stopped for 30 s while the
// application keeps sending through a producer with a spool; halfway, the
// application restarts (a new producer on the same spool directory), and
// a second application that never saw a route starts sending too. The
// broker comes back on its data directory and address. A push consumer
// that ran all along receives every message sent (SEND_OK before the
// outage, spooled during it, sent after) with its id, body, tags, keys
// and properties as sent, each producer's messages in send order;
// duplicates only under one id.
func TestSpoolThroughBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s broker outage")
	}
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Outage", 1) // one queue: stored order is send order
	b := c.Brokers[0]
	got := &deliveries{byID: make(map[string][]*MessageExt)}
	newTestConsumer(t, c, "outage", "Outage", "outage-consumer", func(cfg *PushConsumerConfig) {
		cfg.Listener = got.listener
	})

	var sends []outageSend
	n := 0
	names := map[*Producer]string{}
	send := func(p *Producer, seq string) outageSend {
		t.Helper()
		i := n
		n++
		m := &Message{Topic: "Outage", Body: []byte("m" + strconv.Itoa(i)), Tags: "t" + strconv.Itoa(i%3),
			Keys: []string{"k" + strconv.Itoa(i)}, Properties: map[string]string{"seq": seq, "n": strconv.Itoa(i)}}
		if i%3 == 0 {
			m.ID = NewMessageID() // the application's own id; the others get one from Send
		}
		res, err := p.Send(testCtx(t), m)
		if err != nil {
			t.Fatalf("send %d (%s): %v", i, seq, err)
		}
		if m.ID != "" && res.MsgID != m.ID || !uniqKeyLayout.MatchString(res.MsgID) {
			t.Fatalf("send %d: id %q, want the message's %q or a fresh one", i, res.MsgID, m.ID)
		}
		s := outageSend{seq: seq, by: names[p], msg: m, id: res.MsgID, status: res.Status}
		sends = append(sends, s)
		return s
	}
	mustStatus := func(s outageSend, want SendStatus, when string) {
		t.Helper()
		if s.status != want {
			t.Fatalf("%s: send %s got %v, want %v", when, s.msg.Body, s.status, want)
		}
	}

	dir := t.TempDir()
	p1 := outageProducer(t, c.NamesrvAddr, "app", dir)
	names[p1] = "p1"
	for range 5 {
		mustStatus(send(p1, "app"), SendOK, "before the outage")
	}

	c.StopBroker(b)
	end := time.Now().Add(brokerOutage)
	restartAt := time.Now().Add(brokerOutage / 2)
	pace := time.NewTicker(250 * time.Millisecond)
	defer pace.Stop()
	p, side := p1, (*Producer)(nil)
	for time.Now().Before(end) {
		mustStatus(send(p, "app"), SendSpooled, "broker down")
		if p == p1 && time.Now().After(restartAt) {
			// The application restarts: what p1 spooled is on disk only.
			held, _ := p1.SpoolStats()
			if err := p1.Close(); err != nil {
				t.Fatal(err)
			}
			p = outageProducer(t, c.NamesrvAddr, "app", dir)
			names[p] = "p2"
			if reopened, _ := p.SpoolStats(); reopened != held || held == 0 {
				t.Fatalf("p1 held %d spooled sends; the restarted producer found %d", held, reopened)
			}
			// Another application starts now, with an empty spool and no
			// route cached: the name server has no route for the topic, and
			// its sends are spooled too, not failed.
			side = outageProducer(t, c.NamesrvAddr, "side", t.TempDir())
			names[side] = "side"
			mustStatus(send(side, "side"), SendSpooled, "second application, broker down")
		}
		<-pace.C
	}
	if p == p1 {
		t.Fatal("the application did not restart during the outage")
	}
	mustStatus(send(side, "side"), SendSpooled, "second application, broker down")

	c.RestartBroker(b)
	for range 5 {
		s := send(p, "app")
		if s.status != SendOK && s.status != SendSpooled {
			t.Fatalf("after the outage: %v", s.status)
		}
	}
	send(side, "side")

	testserver.Eventually(t, 30*time.Second, func() bool { return got.hasAll(sends) })
	for _, pr := range []*Producer{p, side} {
		testserver.Eventually(t, 10*time.Second, func() bool { n, _ := pr.SpoolStats(); return n == 0 })
	}
	// The last sends went to the broker directly, the spool being empty.
	for _, pr := range []*Producer{p, side} {
		res, err := pr.Send(testCtx(t), NewMessage("Outage", []byte("direct")))
		if err != nil || res.Status != SendOK {
			t.Fatalf("send after draining: %+v, %v", res, err)
		}
	}

	// The restarted broker kept its data: its store holds every message,
	// those stored before the outage included.
	stored := make(map[string]bool)
	for _, m := range c.AllMessages("Outage") {
		stored[m.Properties["UNIQ_KEY"]] = true
	}
	for _, s := range sends {
		if !stored[s.id] {
			t.Errorf("send %s (%s, %v) is not in the broker's store", s.msg.Body, s.id, s.status)
		}
	}

	got.mu.Lock()
	defer got.mu.Unlock()
	byID := make(map[string]outageSend)
	spooled := map[string]int{}
	for _, s := range sends {
		byID[s.id] = s
		if s.status == SendSpooled {
			spooled[s.by]++
		}
	}
	if spooled["p1"] == 0 || spooled["side"] == 0 {
		t.Fatalf("spooled sends by producer: %v", spooled)
	}
	var all []*MessageExt
	for id, ms := range got.byID {
		s, ok := byID[id]
		if !ok {
			if len(ms) == 1 && string(ms[0].Body) == "direct" {
				continue
			}
			t.Errorf("delivered %d times a message nobody sent: id %s, body %q", len(ms), id, ms[0].Body)
			continue
		}
		for _, m := range ms {
			if string(m.Body) != string(s.msg.Body) || m.Tags != s.msg.Tags || !slices.Equal(m.Keys, s.msg.Keys) ||
				m.Property("seq") != s.msg.Properties["seq"] || m.Property("n") != s.msg.Properties["n"] {
				t.Errorf("id %s delivered as body %q tags %q keys %v props %v; sent as body %q tags %q keys %v props %v",
					id, m.Body, m.Tags, m.Keys, m.Properties, s.msg.Body, s.msg.Tags, s.msg.Keys, s.msg.Properties)
			}
		}
		all = append(all, ms...)
	}
	// Each producer's messages reached the queue in the order they were
	// sent: the first copy of each id, in queue order, follows send order.
	slices.SortFunc(all, func(a, b *MessageExt) int { return int(a.QueueOffset - b.QueueOffset) })
	order := map[string][]string{}
	seen := map[string]bool{}
	for _, m := range all {
		if s, ok := byID[m.MsgID]; ok && !seen[m.MsgID] {
			seen[m.MsgID] = true
			order[s.seq] = append(order[s.seq], m.MsgID)
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(order)) {
		var want []string
		for _, s := range sends {
			if s.seq == seq {
				want = append(want, s.id)
			}
		}
		if !slices.Equal(order[seq], want) {
			i := 0
			for i < min(len(want), len(order[seq])) && order[seq][i] == want[i] {
				i++
			}
			t.Errorf("%s: %d ids in queue order, %d sent; the %dth differs: queue %v, sent %v",
				seq, len(order[seq]), len(want), i, order[seq][i:min(i+3, len(order[seq]))], want[i:min(i+3, len(want))])
		}
	}
	t.Logf("%d sends (%v spooled), %d deliveries", len(sends), spooled, len(all))
}
