package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// delayCfg uses short delay levels: level n waits n*100 ms.
func delayCfg(t *testing.T, dir string) *testBroker {
	cfg := testBrokerConfig(t, dir)
	cfg.MessageDelayLevel = nil
	for i := 1; i <= 18; i++ {
		cfg.MessageDelayLevel = append(cfg.MessageDelayLevel, time.Duration(i)*100*time.Millisecond)
	}
	return startBroker(t, cfg, nil)
}

// waitPull long-polls until the queue has a message at offset.
func (tb *testBroker) waitPull(topic string, queueID int32, offset int64) *message.Ext {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp := tb.invoke(protocol.PullMessage, pullFields("g", topic, queueID, offset, pullSubscription|pullSuspend, 2000, "*"), nil)
		if resp.Code == protocol.Success {
			return decodeBody(tb.t, resp.Body)[0]
		}
	}
	tb.t.Fatalf("no message at %s/%d offset %d", topic, queueID, offset)
	return nil
}

func TestDelayedMessage(t *testing.T) {
	tb := delayCfg(t, t.TempDir())
	createTopic(tb, "T", 1)
	resp := tb.mustSend("T", 0, "later", "DELAY", "3", "KEYS", "k", "UNIQ_KEY", "U1", "TAGS", "A")
	if resp.Ext.Get("queueId") != "0" {
		t.Fatalf("reply queue %s", resp.Ext.Get("queueId"))
	}
	tb.waitDispatched()
	if r := tb.pull("g", "T", 0, 0, "*"); r.Code == protocol.Success {
		t.Fatal("delayed message visible at once")
	}
	_, phys, _ := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	held := decodeBody(t, tb.invoke(protocol.ViewMessageByID, protocol.FieldsOf("offset", strconv.FormatInt(phys, 10)), nil).Body)[0]
	m := tb.waitPull("T", 0, 0)
	if string(m.Body) != "later" || m.Properties["UNIQ_KEY"] != "U1" || m.Properties["KEYS"] != "k" || m.Properties["TAGS"] != "A" ||
		m.Properties["DELAY"] != "" || m.Properties["REAL_TOPIC"] != "" {
		t.Fatalf("delivered %+v", m)
	}
	if early := held.StoreTimestamp + 300 - m.StoreTimestamp; early > 0 {
		t.Fatalf("delivered %d ms early", early)
	}
}

func TestDelayedMessageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tb := delayCfg(t, dir)
	createTopic(tb, "T", 1)
	tb.mustSend("T", 0, "across a restart", "DELAY", "10") // 1 s
	tb.waitDispatched()
	tb.stop()
	tb = delayCfg(t, dir)
	if m := tb.waitPull("T", 0, 0); string(m.Body) != "across a restart" {
		t.Fatalf("delivered %q", m.Body)
	}
	if r := tb.pull("g", "T", 0, 1, "*"); r.Code == protocol.Success {
		t.Fatal("delivered twice")
	}
}

func sendBack(tb *testBroker, m *message.Ext, group string, maxTimes int) *protocol.Command {
	return tb.invoke(protocol.ConsumerSendMsgBack, protocol.FieldsOf("offset", strconv.FormatInt(m.PhysicalOffset, 10),
		"group", group, "delayLevel", "0", "originMsgId", m.Properties["UNIQ_KEY"], "originTopic", m.Topic,
		"unitMode", "false", "maxReconsumeTimes", strconv.Itoa(maxTimes)), nil)
}

func TestSendBackRetryThenDLQ(t *testing.T) {
	tb := delayCfg(t, t.TempDir())
	createTopic(tb, "T", 1)
	tb.mustSend("T", 0, "fails", "KEYS", "order-7", "UNIQ_KEY", "U7", "TAGS", "A")
	m := tb.waitPull("T", 0, 0)
	retry := "%RETRY%cg"
	for attempt := 1; attempt <= 2; attempt++ {
		if resp := sendBack(tb, m, "cg", 2); resp.Code != protocol.Success {
			t.Fatalf("send back: %d %s", resp.Code, resp.Remark)
		}
		m = tb.waitPull(retry, 0, int64(attempt-1))
		if m.ReconsumeTimes != int32(attempt) || m.Properties["RETRY_TOPIC"] != "T" || m.Properties["UNIQ_KEY"] != "U7" ||
			m.Properties["KEYS"] != "order-7" || string(m.Body) != "fails" {
			t.Fatalf("retry %d: %+v", attempt, m)
		}
	}
	// The third failure exceeds maxReconsumeTimes=2: dead letter.
	if resp := sendBack(tb, m, "cg", 2); resp.Code != protocol.Success {
		t.Fatalf("send back: %d %s", resp.Code, resp.Remark)
	}
	d := tb.waitPull("%DLQ%cg", 0, 0)
	if d.ReconsumeTimes != 3 || d.Properties[PropertyDLQOriginTopic] != "T" || d.Properties[PropertyDLQOriginMessageID] != "U7" ||
		d.Properties[PropertyDLQTime] == "" || d.Properties["KEYS"] != "order-7" {
		t.Fatalf("dead letter %+v", d)
	}
	if r := tb.pull("g", retry, 0, 2, "*"); r.Code == protocol.Success {
		t.Fatal("a dead letter also went to the retry topic")
	}
	if resp := tb.invoke(protocol.ConsumerSendMsgBack, protocol.FieldsOf("offset", "123456789", "group", "cg", "delayLevel", "0"), nil); resp.Code != protocol.SystemError {
		t.Fatalf("send back of an unknown offset: %d", resp.Code)
	}
}
