package compat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// Delayed delivery with the official client: delay levels (DELAY, RocketMQ
// 4's ScheduleMessageService) and exact-time timers (TIMER_DELIVER_MS,
// TIMER_DELAY_SEC, TIMER_DELAY_MS, RocketMQ 5's timer messages).
//
// The tests run in parallel, each on its own petrel instance: most of their
// time is spent waiting for due times, and running them one after another
// would add about 40 s to the suite.
//
// Times are compared across the test and petrel: both read the same
// machine's wall clock, so a due time computed here and a store timestamp
// taken by petrel are comparable to within clockTolerance.

// clockTolerance absorbs the millisecond truncation of store timestamps
// and the difference between when the test and the broker read the clock.
const clockTolerance = 50 * time.Millisecond

// Properties that only the held copy of a delayed message may carry: the
// delivered copy has none of them (README: petrel does not leave DELAY,
// REAL_TOPIC, REAL_QID on it, and removes the timer properties).
var heldOnlyProperties = []string{
	"DELAY", "REAL_TOPIC", "REAL_QID",
	"TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS", "TIMER_OUT_MS", "TIMER_ROLL_TIMES",
}

// timedInbox is an Inbox that also records when each body first reached
// the consume callback.
type timedInbox struct {
	*Inbox
	mu    sync.Mutex
	first map[string]time.Time
}

func newTimedInbox() *timedInbox {
	return &timedInbox{Inbox: newInbox(), first: map[string]time.Time{}}
}

// Handle is the consume callback; it reads the clock before anything else.
func (in *timedInbox) Handle(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	now := time.Now()
	in.mu.Lock()
	for _, m := range msgs {
		if _, ok := in.first[string(m.Body)]; !ok {
			in.first[string(m.Body)] = now
		}
	}
	in.mu.Unlock()
	return in.Inbox.Handle(ctx, msgs...)
}

// Arrival is when body first reached the callback.
func (in *timedInbox) Arrival(body string) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.first[body]
}

// startTimedConsumer starts a push consumer of group on topic into in and
// waits until the rebalance gave it all queues queues, so it is pulling
// (long-polling) each of them before the test sends anything whose arrival
// time it measures.
func startTimedConsumer(t *testing.T, p *Petrel, group, topic string, queues int, in *timedInbox) {
	t.Helper()
	c, err := openPushConsumer(p, group, topic, "*", in.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	eventually(t, deliverTimeout, func() bool { return len(c.OwnedQueues(topic)) == queues }, func() string {
		return fmt.Sprintf("the consumer owns queues %v of %s, want all %d", c.OwnedQueues(topic), topic, queues)
	})
}

// delayedSend is what the producer saw of one delayed message, and the
// earliest time it may be delivered.
type delayedSend struct {
	topic, tags, keys string
	msgID             string // the send result's MsgID, the producer's UNIQ_KEY
	queue             int
	notBefore         time.Time // its due time, or a lower bound of it
	start, end        time.Time // around SendSync
}

// sendDelayed sends msg with SendSync, requires SEND_OK, and returns what
// a consumer must see of it; notBefore is filled in by the caller.
func sendDelayed(t *testing.T, prod rocketmq.Producer, msg *primitive.Message) delayedSend {
	t.Helper()
	start := time.Now()
	res, err := prod.SendSync(opContext(t), msg)
	end := time.Now()
	if err != nil {
		t.Fatalf("SendSync %s: %v", msg.Body, err)
	}
	if res.Status != primitive.SendOK || res.MsgID == "" {
		t.Fatalf("SendSync %s: status %d MsgID %q, want SEND_OK with an id (%v)", msg.Body, res.Status, res.MsgID, res)
	}
	return delayedSend{topic: msg.Topic, tags: msg.GetTags(), keys: msg.GetKeys(), msgID: res.MsgID,
		queue: res.MessageQueue.QueueId, start: start, end: end}
}

// checkDelayedDelivery requires m to be the message the producer sent, in the
// queue it was sent to, without the held copy's properties, stored (in its
// real topic) and received no earlier than its due time.
func checkDelayedDelivery(t *testing.T, m *primitive.MessageExt, want delayedSend, arrival time.Time) {
	t.Helper()
	if m.Topic != want.topic || m.GetTags() != want.tags || m.GetKeys() != want.keys || m.Queue.QueueId != want.queue {
		t.Errorf("%s: delivered with topic %q tags %q keys %q queue %d; sent with %q %q %q to queue %d",
			m.Body, m.Topic, m.GetTags(), m.GetKeys(), m.Queue.QueueId, want.topic, want.tags, want.keys, want.queue)
	}
	if m.MsgId != want.msgID || m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex) != want.msgID {
		t.Errorf("%s: delivered with MsgId %q UNIQ_KEY %q, want the send result's %q",
			m.Body, m.MsgId, m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex), want.msgID)
	}
	for _, name := range heldOnlyProperties {
		if v := m.GetProperty(name); v != "" {
			t.Errorf("%s: delivered with %s=%s, a property of the held copy", m.Body, name, v)
		}
	}
	if m.ReconsumeTimes != 0 {
		t.Errorf("%s: reconsumeTimes %d, want 0", m.Body, m.ReconsumeTimes)
	}
	stored := time.UnixMilli(m.StoreTimestamp)
	if early := want.notBefore.Sub(stored); early > clockTolerance {
		t.Errorf("%s: stored in %s at %s, %v before its due time %s", m.Body, m.Topic,
			stored.Format(time.StampMilli), early, want.notBefore.Format(time.StampMilli))
	}
	if early := want.notBefore.Sub(arrival); early > clockTolerance {
		t.Errorf("%s: received at %s, %v before its due time %s", m.Body, arrival.Format(time.StampMilli),
			early, want.notBefore.Format(time.StampMilli))
	}
}

// TestDelayLevelOfficialClient sends a message with delay level 2 (5 s in
// the default messageDelayLevel) to a consumer that is already pulling: it
// arrives no sooner than 5 s after the send and well within a second
// after, exactly once, as the message the producer sent (topic, queue,
// tags, keys, MsgId, user property) and without DELAY, REAL_TOPIC or
// REAL_QID.
func TestDelayLevelOfficialClient(t *testing.T) {
	t.Parallel()
	p := startPetrel(t)
	const topic, queues, delay = "DelayLevel", 2, 5 * time.Second
	createTopic(t, p, topic, queues)
	in := newTimedInbox()
	startTimedConsumer(t, p, "DelayLevelGroup", topic, queues, in)
	prod := newProducer(t, p)

	msg := primitive.NewMessage(topic, []byte("delayed-level-2")).WithTag("TagD").WithKeys([]string{"order-1", "order-2"})
	msg.WithProperty("compat-prop", "kept")
	msg.WithDelayTimeLevel(2)
	sent := sendDelayed(t, prod, msg)
	// The broker stores the held copy during SendSync and delivers it
	// delay after that store.
	sent.notBefore = sent.start.Add(delay)

	waitDelivered(t, in.Inbox, []string{"delayed-level-2"}, "the consumer")
	arrival := in.Arrival("delayed-level-2")
	m := in.ByBody()["delayed-level-2"]
	checkDelayedDelivery(t, m, sent, arrival)
	if v := m.GetProperty("compat-prop"); v != "kept" {
		t.Errorf("user property compat-prop=%q after the delay, want %q", v, "kept")
	}
	if held := time.UnixMilli(m.StoreTimestamp).Sub(time.UnixMilli(m.BornTimestamp)); held < delay-clockTolerance {
		t.Errorf("delivered copy stored %v after the producer made the message, want at least %v", held, delay)
	}
	if late := arrival.Sub(sent.end.Add(delay)); late > time.Second {
		t.Errorf("received %v after its due time, want well within a second", late)
	}
	if n := in.Count("delayed-level-2"); n != 1 {
		t.Errorf("delivered %d times, want once", n)
	}
	t.Logf("delay level 2: received %v after the send started (send took %v)", arrival.Sub(sent.start), sent.end.Sub(sent.start))
}

// TestTimerOfficialClient sends timer messages to a consumer that is
// already pulling: TIMER_DELIVER_MS now+3000 arrives in [due, due+500 ms],
// that is 3.0-3.5 s after the send; TIMER_DELAY_SEC=2 and TIMER_DELAY_MS
// 2500 arrive in the same window relative to the send. Each arrives once,
// as sent, without the timer properties.
func TestTimerOfficialClient(t *testing.T) {
	t.Parallel()
	p := startPetrel(t)
	const topic, queues, window = "TimerExact", 2, 500 * time.Millisecond
	createTopic(t, p, topic, queues)
	in := newTimedInbox()
	startTimedConsumer(t, p, "TimerExactGroup", topic, queues, in)
	prod := newProducer(t, p)

	type timerCase struct {
		body, prop string
		value      func(now time.Time) string
		delay      time.Duration // relative delays: due between start+delay and end+delay
	}
	cases := []timerCase{
		{"timer-deliver-ms", "TIMER_DELIVER_MS", func(now time.Time) string {
			return strconv.FormatInt(now.UnixMilli()+3000, 10)
		}, 0},
		{"timer-delay-sec", "TIMER_DELAY_SEC", func(time.Time) string { return "2" }, 2 * time.Second},
		{"timer-delay-ms", "TIMER_DELAY_MS", func(time.Time) string { return "2500" }, 2500 * time.Millisecond},
	}
	sent := map[string]delayedSend{}
	values := map[string]string{}
	latest := map[string]time.Time{} // the latest acceptable arrival
	var want []string
	for i, c := range cases {
		msg := primitive.NewMessage(topic, []byte(c.body)).WithTag("TagT").WithKeys([]string{fmt.Sprintf("timer-%d", i)})
		value := c.value(time.Now())
		msg.WithProperty(c.prop, value)
		values[c.body] = value
		s := sendDelayed(t, prod, msg)
		if c.delay == 0 {
			due, _ := strconv.ParseInt(value, 10, 64)
			s.notBefore = time.UnixMilli(due)
			latest[c.body] = s.notBefore.Add(window)
		} else {
			// The broker adds the delay to its clock in whole
			// milliseconds, which may be up to 1 ms before start.
			s.notBefore = time.UnixMilli(s.start.UnixMilli()).Add(c.delay)
			latest[c.body] = s.end.Add(c.delay + window)
		}
		sent[c.body] = s
		want = append(want, c.body)
	}

	waitDelivered(t, in.Inbox, want, "the consumer")
	got := in.ByBody()
	for _, c := range cases {
		s, arrival := sent[c.body], in.Arrival(c.body)
		checkDelayedDelivery(t, got[c.body], s, arrival)
		// The exact window: never before the due time, even by the clock
		// tolerance, and at most window after it.
		if arrival.Before(s.notBefore) {
			t.Errorf("%s: received %v before its due time", c.prop, s.notBefore.Sub(arrival))
		}
		if arrival.After(latest[c.body]) {
			t.Errorf("%s: received %v after its due time, want at most %v", c.prop, arrival.Sub(s.notBefore), window)
		}
		if n := in.Count(c.body); n != 1 {
			t.Errorf("%s: delivered %d times, want once", c.prop, n)
		}
		t.Logf("%s=%s: received %v after the send started, %v after its due time",
			c.prop, values[c.body], arrival.Sub(s.start), arrival.Sub(s.notBefore))
	}
}

// TestDelayedAcrossRestart sends delay-level-3 (10 s) messages and timers
// due about 4 s later, stops petrel before either is due — gracefully with
// SIGTERM, or with SIGKILL — and starts it again on the same data: a
// consumer then receives every one of them, each stored in its real topic
// after the stop (so delivered by the restarted broker, not before the
// stop) and no earlier than its due time. Nothing was delivered before the
// stop, so even the crash allows no duplicate.
func TestDelayedAcrossRestart(t *testing.T) {
	t.Parallel()
	for _, kill := range []bool{false, true} {
		name := "SIGTERM"
		if kill {
			name = "SIGKILL"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			delayedAcrossRestart(t, kill)
		})
	}
}

func delayedAcrossRestart(t *testing.T, kill bool) {
	p := startPetrel(t)
	const topic, queues = "DelayRestart", 2
	const levelDelay, timerDelay = 10 * time.Second, 4 * time.Second
	createTopic(t, p, topic, queues)
	prod := newProducer(t, p)

	sent := map[string]delayedSend{}
	var all []string
	for i := range 3 {
		body := fmt.Sprintf("level3-%d", i)
		msg := primitive.NewMessage(topic, []byte(body)).WithTag("TagL").WithKeys([]string{body})
		msg.WithDelayTimeLevel(3)
		s := sendDelayed(t, prod, msg)
		s.notBefore = s.start.Add(levelDelay)
		sent[body] = s
		all = append(all, body)
	}
	firstTimerDue := time.Time{}
	for i := range 3 {
		body := fmt.Sprintf("timer-%d", i)
		due := time.Now().Add(timerDelay + time.Duration(i)*200*time.Millisecond)
		msg := primitive.NewMessage(topic, []byte(body)).WithTag("TagT").WithKeys([]string{body})
		msg.WithProperty("TIMER_DELIVER_MS", strconv.FormatInt(due.UnixMilli(), 10))
		s := sendDelayed(t, prod, msg)
		s.notBefore = time.UnixMilli(due.UnixMilli())
		if i == 0 {
			firstTimerDue = s.notBefore
		}
		sent[body] = s
		all = append(all, body)
	}
	prod.Shutdown()

	stopped := time.Now()
	if !stopped.Before(firstTimerDue) {
		t.Fatalf("sending took until %v past the first timer's due time; the stop would not find it pending",
			stopped.Sub(firstTimerDue))
	}
	if kill {
		p.Kill(t)
	} else {
		p.Stop(t)
	}
	p.Restart(t)
	t.Logf("stopped %v before the first timer was due; restarted after %v", firstTimerDue.Sub(stopped), time.Since(stopped))

	in := newTimedInbox()
	startTimedConsumer(t, p, "DelayRestartGroup", topic, queues, in)
	waitDelivered(t, in.Inbox, all, "the consumer after the restart")
	got := in.ByBody()
	for _, b := range all {
		m := got[b]
		checkDelayedDelivery(t, m, sent[b], in.Arrival(b))
		if stored := time.UnixMilli(m.StoreTimestamp); stored.Before(stopped.Add(-clockTolerance)) {
			t.Errorf("%s: stored in %s at %s, before the stop at %s: it was not pending across the restart",
				b, topic, stored.Format(time.StampMilli), stopped.Format(time.StampMilli))
		}
	}
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries of messages first delivered after the restart: %v", d)
	}
}
