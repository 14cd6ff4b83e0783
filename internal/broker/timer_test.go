package broker

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// heldTimer returns the due time a send reply's stored (held) message got.
func heldTimer(t *testing.T, tb *testBroker, resp *protocol.Command) (*message.Ext, int64) {
	t.Helper()
	_, phys, err := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	if err != nil {
		t.Fatal(err)
	}
	held := decodeBody(t, tb.invoke(protocol.ViewMessageByID, protocol.FieldsOf("offset", strconv.FormatInt(phys, 10)), nil).Body)[0]
	due, err := strconv.ParseInt(held.Properties[message.PropertyTimerOutMS], 10, 64)
	if err != nil {
		t.Fatalf("held message %+v has no %s", held, message.PropertyTimerOutMS)
	}
	return held, due
}

func checkDelivered(t *testing.T, m *message.Ext, body string, due int64) {
	t.Helper()
	if string(m.Body) != body {
		t.Fatalf("delivered %q, want %q", m.Body, body)
	}
	for _, p := range append([]string{message.PropertyTimerOutMS, message.PropertyRealTopic, message.PropertyRealQueueID, PropertyTimerRollTimes}, timerInputProperties...) {
		if v, ok := m.Properties[p]; ok {
			t.Fatalf("delivered message keeps %s=%s", p, v)
		}
	}
	if early := due - m.StoreTimestamp; early > 0 {
		t.Fatalf("delivered %d ms before its due time", early)
	}
}

func TestTimerMessageDeliveredAtDueTime(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 2)
	cases := []struct {
		queue int32
		prop  string
		value func() string
	}{
		{0, message.PropertyTimerDelayMS, func() string { return "300" }},
		{1, message.PropertyTimerDeliverMS, func() string { return strconv.FormatInt(time.Now().UnixMilli()+400, 10) }},
	}
	for _, c := range cases {
		before := time.Now().UnixMilli()
		resp := tb.mustSend("T", c.queue, c.prop, c.prop, c.value(), "KEYS", "k1 k2", "UNIQ_KEY", "U-"+c.prop, "TAGS", "A")
		if resp.Ext.Get("queueId") != strconv.Itoa(int(c.queue)) {
			t.Fatalf("reply names queue %s", resp.Ext.Get("queueId"))
		}
		held, due := heldTimer(t, tb, resp)
		if held.Topic != TopicTimer || due <= before {
			t.Fatalf("held in %s until %d (sent at %d)", held.Topic, due, before)
		}
		tb.waitDispatched()
		if r := tb.pull("g", "T", c.queue, 0, "*"); r.Code == protocol.Success && time.Now().UnixMilli() < due {
			t.Fatal("timer message visible before its due time")
		}
		m := tb.waitPull("T", c.queue, 0)
		checkDelivered(t, m, c.prop, due)
		if m.Properties["UNIQ_KEY"] != "U-"+c.prop || m.Properties["KEYS"] != "k1 k2" || m.Properties["TAGS"] != "A" || m.Topic != "T" {
			t.Fatalf("delivered %+v", m)
		}
	}
}

func TestTimerInThePastIsDeliveredAtOnce(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	tb.mustSend("T", 0, "past", message.PropertyTimerDeliverMS, strconv.FormatInt(time.Now().UnixMilli()-1000, 10))
	tb.waitDispatched()
	if r := tb.pull("g", "T", 0, 0, "*"); r.Code != protocol.Success {
		t.Fatalf("a timer already due was held: %d %s", r.Code, r.Remark)
	}
	if n := tb.b.store.MaxOffset(TopicTimer, 0); n != 0 {
		t.Fatalf("timer queue holds %d entries", n)
	}
}

func TestTimersOutOfOrder(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	const n = 200
	dues := map[string]int64{}
	for i := range n {
		body := strconv.Itoa(i)
		resp := tb.mustSend("T", 0, body, message.PropertyTimerDelayMS, strconv.Itoa(50+rand.IntN(700)))
		_, dues[body] = heldTimer(t, tb, resp)
	}
	for off := int64(0); off < n; off++ {
		m := tb.waitPull("T", 0, off)
		due, ok := dues[string(m.Body)]
		if !ok {
			t.Fatalf("offset %d: unexpected or duplicate message %q", off, m.Body)
		}
		delete(dues, string(m.Body))
		checkDelivered(t, m, string(m.Body), due)
	}
	eventually(t, func() bool {
		tb.b.timers.mu.Lock()
		defer tb.b.timers.mu.Unlock()
		for off := int64(0); off < n; off++ {
			if !tb.b.timers.done.has(off) {
				return false
			}
		}
		return len(tb.b.timers.heap) == 0 && tb.b.timers.done.watermark == n/64*64
	})
}

func TestTimerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, testBrokerConfig(t, dir), nil)
	createTopic(tb, "T", 1)
	tb.mustSend("T", 0, "first", message.PropertyTimerDelayMS, "200")
	_, due := heldTimer(t, tb, tb.mustSend("T", 0, "across a restart", message.PropertyTimerDelayMS, "1500"))
	checkDelivered(t, tb.waitPull("T", 0, 0), "first", 0)
	tb.stop()

	tb = startBroker(t, testBrokerConfig(t, dir), nil)
	checkDelivered(t, tb.waitPull("T", 0, 1), "across a restart", due)
	tb.stop()

	// A third start delivers nothing again: progress was saved.
	tb = startBroker(t, testBrokerConfig(t, dir), nil)
	tb.waitDispatched()
	eventually(t, func() bool { return tb.b.timers.pending() == 0 })
	if n := tb.b.store.MaxOffset("T", 0); n != 2 {
		t.Fatalf("topic holds %d messages after restarts, want 2", n)
	}
}

func TestTimerRollsLongDelays(t *testing.T) {
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.FileReservedTime = 800 * time.Millisecond // roll window 400 ms
	tb := startBroker(t, cfg, nil)
	createTopic(tb, "T", 1)
	_, due := heldTimer(t, tb, tb.mustSend("T", 0, "rolled", message.PropertyTimerDelayMS, "1500"))
	checkDelivered(t, tb.waitPull("T", 0, 0), "rolled", due)
	if n := tb.b.store.MaxOffset(TopicTimer, 0); n < 3 {
		t.Fatalf("timer queue holds %d entries; a 1.5 s timer with a 400 ms window rolls at least twice", n)
	}
	if r := tb.pull("g", "T", 0, 1, "*"); r.Code == protocol.Success {
		t.Fatal("a rolled timer was delivered twice")
	}
}

func TestTimerRefusals(t *testing.T) {
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.TimerMaxDelay = time.Hour
	tb := startBroker(t, cfg, nil)
	createTopic(tb, "T", 1)
	for _, props := range [][]string{
		{message.PropertyTimerDelaySec, "3601"},
		{message.PropertyTimerDelayMS, strconv.Itoa(3600*1000 + 60000)},
		{message.PropertyTimerDeliverMS, strconv.FormatInt(time.Now().Add(2*time.Hour).UnixMilli(), 10)},
		{message.PropertyTimerDelayMS, "soon"},
		{message.PropertyTimerDelaySec, "-5"},
		{message.PropertyTimerDelaySec, "9223372036854775807"},
	} {
		if r := tb.send("T", 0, "x", props...); r.Code != protocol.MessageIllegal || r.Remark == "" {
			t.Errorf("%v: %d %q, want MESSAGE_ILLEGAL with a remark", props, r.Code, r.Remark)
		}
	}
	if r := tb.send("T", 0, "x", message.PropertyTimerDelaySec, "3600"); r.Code != protocol.Success {
		t.Errorf("the longest allowed delay: %d %s", r.Code, r.Remark)
	}
	tb.waitDispatched()
	if n := tb.b.store.MaxOffset("T", 0); n != 0 {
		t.Fatalf("refused timers reached the topic: %d", n)
	}

	off := testBrokerConfig(t, t.TempDir())
	off.TimerWheelEnable = false
	tb2 := startBroker(t, off, nil)
	createTopic(tb2, "T", 1)
	if r := tb2.send("T", 0, "x", message.PropertyTimerDelayMS, "100"); r.Code != protocol.SystemError || r.Remark == "" {
		t.Errorf("timerWheelEnable=false: %d %q, want SYSTEM_ERROR", r.Code, r.Remark)
	}
}

func TestDelayLevelWinsOverTimer(t *testing.T) {
	tb := delayCfg(t, t.TempDir())
	createTopic(tb, "T", 1)
	tb.mustSend("T", 0, "level wins", "DELAY", "1", message.PropertyTimerDelaySec, "100000")
	m := tb.waitPull("T", 0, 0)
	checkDelivered(t, m, "level wins", 0)
	if n := tb.b.store.MaxOffset(TopicTimer, 0); n != 0 {
		t.Fatalf("timer queue holds %d entries", n)
	}
}

func TestTimerUnderSyncFlush(t *testing.T) {
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.FlushDiskType = config.SyncFlush
	tb := startBroker(t, cfg, nil)
	createTopic(tb, "T", 1)
	const n = 100
	for i := range n {
		tb.mustSend("T", 0, strconv.Itoa(i), message.PropertyTimerDelayMS, "300")
	}
	seen := map[string]bool{}
	for off := int64(0); off < n; off++ {
		seen[string(tb.waitPull("T", 0, off).Body)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages delivered, want %d", len(seen), n)
	}
}
