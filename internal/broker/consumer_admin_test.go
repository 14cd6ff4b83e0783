package broker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

func TestLockTable(t *testing.T) {
	lt := newLockTable()
	now := time.Unix(1000, 0)
	q0, q1 := MessageQueue{"T", "b", 0}, MessageQueue{"T", "b", 1}
	if got := lt.tryLock("g", "A", []MessageQueue{q0, q1}, now); len(got) != 2 {
		t.Fatalf("A locked %v", got)
	}
	if got := lt.tryLock("g", "B", []MessageQueue{q0, q1}, now.Add(59*time.Second)); len(got) != 0 {
		t.Fatalf("B took live locks %v", got)
	}
	if got := lt.tryLock("other", "B", []MessageQueue{q0}, now); len(got) != 1 {
		t.Fatal("groups do not share locks")
	}
	lt.tryLock("g", "A", []MessageQueue{q1}, now.Add(50*time.Second)) // A renews q1 only
	got := lt.tryLock("g", "B", []MessageQueue{q0, q1}, now.Add(61*time.Second))
	if len(got) != 1 || got[0] != q0 {
		t.Fatalf("B after q0 expired: %v", got)
	}
	lt.unlock("g", "B", []MessageQueue{q1}) // not B's: stays with A
	if h := lt.holder("g", q1, now.Add(61*time.Second)); h != "A" {
		t.Fatalf("q1 held by %q", h)
	}
	lt.unlock("g", "A", []MessageQueue{q1})
	if h := lt.holder("g", q1, now.Add(61*time.Second)); h != "" {
		t.Fatalf("q1 still held by %q", h)
	}
}

func TestOffsetCommitsNeverGoBack(t *testing.T) {
	o := newOffsetStore(vfs.NewMem(), "/cfg")
	now := time.Unix(1000, 0)
	o.commit("T", "g", 0, 100, 200, now)
	o.commit("T", "g", 0, 90, 200, now) // a late commit from a client that lost the queue
	if got := o.query("T", "g", 0); got != 100 {
		t.Fatalf("stale commit moved the offset to %d", got)
	}
	o.commit("T", "g", 0, 150, 200, now)
	if got := o.query("T", "g", 0); got != 150 {
		t.Fatalf("offset %d", got)
	}
	// The queue lost data (max 40 now): the client's lower offset corrects it.
	o.commit("T", "g", 0, 40, 40, now)
	if got := o.query("T", "g", 0); got != 40 {
		t.Fatalf("offset past the end not corrected: %d", got)
	}
	// A reset rewinds, and stale commits above it are ignored for a while.
	o.reset("T", "g", map[int32]int64{0: 5}, now)
	o.commit("T", "g", 0, 40, 100, now.Add(time.Second))
	if got := o.query("T", "g", 0); got != 5 {
		t.Fatalf("stale commit undid the reset: %d", got)
	}
	o.commit("T", "g", 0, 5, 100, now.Add(11*time.Second))
	o.commit("T", "g", 0, 20, 100, now.Add(20*time.Second))
	if got := o.query("T", "g", 0); got != 20 {
		t.Fatalf("progress after the reset window: %d", got)
	}
}

// resetRecorder answers nothing and records RESET_CONSUMER_CLIENT_OFFSET.
type resetRecorder struct{ got chan *protocol.Command }

func (r *resetRecorder) ServeRemoting(req *remoting.Request) *protocol.Command {
	if req.Cmd.Code == protocol.ResetConsumerClientOffset {
		r.got <- req.Cmd
	}
	req.Reply(nil)
	return nil
}

func TestResetOffsetAndStats(t *testing.T) {
	rec := &resetRecorder{got: make(chan *protocol.Command, 4)}
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), rec)
	createTopic(tb, "T", 2)
	for i := 0; i < 6; i++ {
		tb.mustSend("T", int32(i%2), "x")
	}
	tb.waitDispatched()
	tb.invoke(protocol.HeartBeat, nil, heartbeat("c1", "g", "T"))
	for q := 0; q < 2; q++ {
		tb.invoke(protocol.UpdateConsumerOffset, protocol.FieldsOf("consumerGroup", "g", "topic", "T", "queueId", fmt.Sprint(q), "commitOffset", "2"), nil)
	}
	stats := string(tb.invoke(protocol.GetConsumeStats, protocol.FieldsOf("consumerGroup", "g", "topic", "T"), nil).Body)
	if !strings.Contains(stats, `{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":3,"consumerOffset":2,`) {
		t.Fatalf("consume stats %s", stats)
	}
	resp := tb.invoke(protocol.InvokeBrokerToResetOffset, protocol.FieldsOf("topic", "T", "group", "g", "timestamp", "0", "isForce", "true"), nil)
	if resp.Code != protocol.Success {
		t.Fatalf("reset: %d %s", resp.Code, resp.Remark)
	}
	select {
	case cmd := <-rec.got:
		want := `{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:0,{"brokerName":"broker-a","queueId":1,"topic":"T"}:0}}`
		if string(cmd.Body) != want || cmd.Ext.Get("group") != "g" {
			t.Fatalf("reset body %s", cmd.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client was not told to reset")
	}
	q := tb.invoke(protocol.QueryConsumerOffset, protocol.FieldsOf("consumerGroup", "g", "topic", "T", "queueId", "0"), nil)
	if q.Ext.Get("offset") != "0" {
		t.Fatalf("offset after reset %v", q.Ext)
	}
	var cc consumerConnection
	if err := json.Unmarshal(tb.invoke(protocol.GetConsumerConnectionList, protocol.FieldsOf("consumerGroup", "g"), nil).Body, &cc); err != nil ||
		len(cc.ConnectionSet) != 1 || cc.ConnectionSet[0].ClientID != "c1" || cc.MessageModel != "CLUSTERING" {
		t.Fatalf("connections %+v %v", cc, err)
	}
	if r := tb.invoke(protocol.GetConsumerConnectionList, protocol.FieldsOf("consumerGroup", "nobody"), nil); r.Code != protocol.ConsumerNotOnline {
		t.Fatalf("offline group: %d", r.Code)
	}
	who := string(tb.invoke(protocol.QueryTopicConsumeByWho, protocol.FieldsOf("topic", "T"), nil).Body)
	if who != `{"groupList":["g"]}` {
		t.Fatalf("consume by who %s", who)
	}
	lock := func(client string) []MessageQueue {
		body, _ := json.Marshal(lockBatchBody{ConsumerGroup: "g", ClientID: client, MQSet: []MessageQueue{{"T", "broker-a", 0}, {"T", "broker-a", 1}}})
		var r lockBatchResponse
		json.Unmarshal(tb.invoke(protocol.LockBatchMQ, nil, body).Body, &r)
		return r.LockOKMQSet
	}
	if got := lock("c1"); len(got) != 2 {
		t.Fatalf("c1 locked %v", got)
	}
	if got := lock("c2"); len(got) != 0 {
		t.Fatalf("c2 took c1's locks %v", got)
	}
}
