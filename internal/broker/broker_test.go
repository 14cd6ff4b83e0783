package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// testBroker runs a broker on loopback with a small store.
type testBroker struct {
	t      *testing.T
	b      *Broker
	cfg    *config.Broker
	client *remoting.Client
	addr   string
}

func testBrokerConfig(t *testing.T, dir string) *config.Broker {
	cfg := config.DefaultBroker()
	cfg.BrokerName = "broker-a"
	cfg.StorePathRootDir = dir
	cfg.MappedFileSizeCommitLog = 4 << 20
	cfg.MappedFileSizeConsumeQueue = 1000 * 20
	cfg.MaxHashSlotNum = 1024
	cfg.MaxIndexNum = 4096
	cfg.NamesrvAddr = nil
	cfg.BindAddress = "127.0.0.1"
	return cfg
}

func startBroker(t *testing.T, cfg *config.Broker, handler remoting.Handler) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := New(Options{Config: cfg, Listener: ln, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	tb := &testBroker{t: t, b: b, cfg: cfg, addr: ln.Addr().String(),
		client: remoting.NewClient(remoting.ClientOptions{Handler: handler, Logger: log})}
	t.Cleanup(func() { tb.stop() })
	return tb
}

func (tb *testBroker) stop() {
	if tb.client != nil {
		tb.client.Close()
		tb.client = nil
	}
	if tb.b != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tb.b.Shutdown(ctx); err != nil {
			tb.t.Errorf("shutdown: %v", err)
		}
		tb.b = nil
	}
}

func (tb *testBroker) invoke(code int32, ext protocol.Fields, bodyBytes []byte) *protocol.Command {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := tb.client.Invoke(ctx, tb.addr, protocol.NewRequest(code, ext, bodyBytes))
	if err != nil {
		tb.t.Fatalf("%s: %v", protocol.RequestName(code), err)
	}
	return resp
}

// send uses SEND_MESSAGE with the Go client's long field names.
func (tb *testBroker) send(topic string, queueID int32, bodyText string, props ...string) *protocol.Command {
	tb.t.Helper()
	return tb.invoke(protocol.SendMessage, protocol.FieldsOf(
		"producerGroup", "pg", "topic", topic, "defaultTopic", TopicDefault, "defaultTopicQueueNums", "4",
		"queueId", strconv.Itoa(int(queueID)), "sysFlag", "0", "bornTimestamp", strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag", "0", "properties", string(message.EncodeProperties(nil, props...)), "reconsumeTimes", "0",
		"unitMode", "false", "batch", "false", "maxReconsumeTimes", "0",
	), []byte(bodyText))
}

func (tb *testBroker) mustSend(topic string, queueID int32, bodyText string, props ...string) *protocol.Command {
	tb.t.Helper()
	resp := tb.send(topic, queueID, bodyText, props...)
	if resp.Code != protocol.Success {
		tb.t.Fatalf("send to %s: %d %s", topic, resp.Code, resp.Remark)
	}
	return resp
}

func pullFields(group, topic string, queueID int32, offset int64, sysFlag int32, suspendMs int64, sub string) protocol.Fields {
	return protocol.FieldsOf("consumerGroup", group, "topic", topic, "queueId", strconv.Itoa(int(queueID)),
		"queueOffset", strconv.FormatInt(offset, 10), "maxMsgNums", "32", "sysFlag", strconv.Itoa(int(sysFlag)),
		"commitOffset", "0", "suspendTimeoutMillis", strconv.FormatInt(suspendMs, 10), "subscription", sub,
		"subVersion", "0", "expressionType", "TAG")
}

func (tb *testBroker) pull(group, topic string, queueID int32, offset int64, sub string) *protocol.Command {
	tb.t.Helper()
	return tb.invoke(protocol.PullMessage, pullFields(group, topic, queueID, offset, pullSubscription, 0, sub), nil)
}

// waitDispatched waits until the store has indexed every message written:
// sends return before the dispatcher builds consume-queue entries.
func (tb *testBroker) waitDispatched() {
	tb.t.Helper()
	eventually(tb.t, func() bool {
		st := tb.b.store.Stats()
		return st.DispatchedOffset >= st.CommitLogMaxOffset
	})
}

// eventually waits for cond, failing the test after 10 s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func createTopic(tb *testBroker, topic string, queues int) {
	tb.t.Helper()
	resp := tb.invoke(protocol.UpdateAndCreateTopic, protocol.FieldsOf("topic", topic, "defaultTopic", "defaultTopic",
		"readQueueNums", strconv.Itoa(queues), "writeQueueNums", strconv.Itoa(queues), "perm", "6",
		"topicFilterType", "SINGLE_TAG", "topicSysFlag", "0", "order", "false"), nil)
	if resp.Code != protocol.Success {
		tb.t.Fatalf("create topic %s: %d %s", topic, resp.Code, resp.Remark)
	}
}

func decodeBody(t *testing.T, b []byte) []*message.Ext {
	t.Helper()
	msgs, err := message.DecodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestSendAndPull(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 2)
	var ids []string
	for i := 0; i < 5; i++ {
		resp := tb.mustSend("T", 1, fmt.Sprintf("m%d", i), "TAGS", "TagA", "KEYS", "k"+strconv.Itoa(i), "WAIT", "true", "UNIQ_KEY", fmt.Sprintf("U%d", i))
		if resp.Ext.Get("queueId") != "1" || resp.Ext.Get("queueOffset") != strconv.Itoa(i) || len(resp.Ext.Get("msgId")) != 32 ||
			resp.Ext.Get("MSG_REGION") != "DefaultRegion" || resp.Ext.Get("TRACE_ON") != "true" {
			t.Fatalf("send reply %v", resp.Ext)
		}
		ids = append(ids, resp.Ext.Get("msgId"))
	}
	tb.waitDispatched()
	resp := tb.pull("g", "T", 1, 0, "*")
	if resp.Code != protocol.Success || resp.Ext.Get("nextBeginOffset") != "5" || resp.Ext.Get("maxOffset") != "5" || resp.Ext.Get("suggestWhichBrokerId") != "0" {
		t.Fatalf("pull: %d %s %v", resp.Code, resp.Remark, resp.Ext)
	}
	msgs := decodeBody(t, resp.Body)
	for i, m := range msgs {
		if string(m.Body) != fmt.Sprintf("m%d", i) || m.Properties["TAGS"] != "TagA" || m.Properties["CLUSTER"] != "DefaultCluster" ||
			m.Properties["WAIT"] != "" || m.MsgID() != ids[i] || m.StoreHost != tb.b.Addr() {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// Offsets past the end, below the start, and an empty queue.
	for _, tc := range []struct {
		queue  int32
		offset int64
		code   int32
		next   string
	}{
		{1, 5, protocol.PullNotFound, "5"},
		{1, 9, protocol.PullOffsetMoved, "5"},
		{0, 0, protocol.PullNotFound, "0"},
		{0, 3, protocol.PullOffsetMoved, "0"},
	} {
		resp := tb.pull("g", "T", tc.queue, tc.offset, "*")
		if resp.Code != tc.code || resp.Ext.Get("nextBeginOffset") != tc.next {
			t.Errorf("queue %d offset %d: code %d next %s, want %d %s", tc.queue, tc.offset, resp.Code, resp.Ext.Get("nextBeginOffset"), tc.code, tc.next)
		}
	}
}

func TestPullTagFilter(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	for i, tag := range []string{"TagA", "TagB", "TagC", "TagA", ""} {
		props := []string{"TAGS", tag}
		tb.mustSend("T", 0, strconv.Itoa(i), props...)
	}
	tb.waitDispatched()
	resp := tb.pull("g", "T", 0, 0, "TagA || TagC")
	var got []string
	for _, m := range decodeBody(t, resp.Body) {
		got = append(got, m.Properties["TAGS"])
	}
	if fmt.Sprint(got) != "[TagA TagC TagA]" || resp.Ext.Get("nextBeginOffset") != "5" {
		t.Fatalf("filtered %v next %s", got, resp.Ext.Get("nextBeginOffset"))
	}
	if resp := tb.pull("g", "T", 0, 0, "TagZ"); resp.Code != protocol.PullRetryImmediately || resp.Ext.Get("nextBeginOffset") != "5" {
		t.Fatalf("nothing matches: %d next %s", resp.Code, resp.Ext.Get("nextBeginOffset"))
	}
}

func TestLongPolling(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	// A pull with nothing to read is held until a message arrives.
	type result struct {
		resp *protocol.Command
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := tb.client.Invoke(ctx, tb.addr, protocol.NewRequest(protocol.PullMessage,
			pullFields("g", "T", 0, 0, pullSubscription|pullSuspend, 20000, "*"), nil))
		done <- result{resp, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for tb.b.holds.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("pull was not held")
		}
		time.Sleep(time.Millisecond)
	}
	tb.mustSend("T", 0, "wake up")
	r := <-done
	if r.err != nil || r.resp.Code != protocol.Success || string(decodeBody(t, r.resp.Body)[0].Body) != "wake up" {
		t.Fatalf("held pull: %v %+v", r.err, r.resp)
	}
	// A held pull whose suspend time passes is answered PULL_NOT_FOUND.
	resp := tb.invoke(protocol.PullMessage, pullFields("g", "T", 0, 1, pullSubscription|pullSuspend, 50, "*"), nil)
	if resp.Code != protocol.PullNotFound || resp.Ext.Get("nextBeginOffset") != "1" {
		t.Fatalf("expired hold: %d %v", resp.Code, resp.Ext)
	}
	// A held pull whose filter does not match stays held.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := tb.client.Invoke(ctx, tb.addr, protocol.NewRequest(protocol.PullMessage,
			pullFields("g", "T", 0, 1, pullSubscription|pullSuspend, 20000, "TagB"), nil))
		done <- result{resp, err}
	}()
	for tb.b.holds.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	tb.mustSend("T", 0, "a", "TAGS", "TagA")
	tb.mustSend("T", 0, "b", "TAGS", "TagB")
	r = <-done
	msgs := decodeBody(t, r.resp.Body)
	if r.err != nil || len(msgs) != 1 || string(msgs[0].Body) != "b" {
		t.Fatalf("filtered hold: %v %d", r.err, len(msgs))
	}
}

func TestSendChecks(t *testing.T) {
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.MaxMessageSize = 1024
	tb := startBroker(t, cfg, nil)
	createTopic(tb, "T", 2)
	for _, tc := range []struct {
		name  string
		topic string
		queue int32
		body  string
		code  int32
	}{
		{"bad topic", "a/b", 0, "x", protocol.SystemError},
		{"long topic", string(make([]byte, 128)), 0, "x", protocol.SystemError},
		{"system topic", TopicSchedule, 0, "x", protocol.NoPermission},
		{"queue out of range", "T", 5, "x", protocol.SystemError},
		{"body too big", "T", 0, string(make([]byte, 1025)), protocol.MessageIllegal},
		{"random queue", "T", -1, "x", protocol.Success},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.send(tc.topic, tc.queue, tc.body)
			if resp.Code != tc.code || (tc.code != protocol.Success && resp.Remark == "") {
				t.Fatalf("code %d %q, want %d", resp.Code, resp.Remark, tc.code)
			}
		})
	}
	if _, ok := tb.b.topics.get("a/b"); ok {
		t.Fatal("a bad topic was created")
	}
}

func TestAutoCreateTopic(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	tb.mustSend("Fresh", 2, "x")
	tc, ok := tb.b.topics.get("Fresh")
	if !ok || tc.WriteQueueNums != 4 || tc.Perm != body.PermRead|body.PermWrite {
		t.Fatalf("auto-created %+v", tc)
	}
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.AutoCreateTopicEnable = false
	off := startBroker(t, cfg, nil)
	if resp := off.send("Fresh", 0, "x"); resp.Code != protocol.TopicNotExist {
		t.Fatalf("auto-create off: %d %s", resp.Code, resp.Remark)
	}
}

func TestBatchSend(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	var batch []byte
	for i := 0; i < 3; i++ {
		batch = message.AppendBatchItem(batch, message.BatchItem{Body: []byte("b" + strconv.Itoa(i)),
			Properties: message.EncodeProperties(nil, "TAGS", "T"+strconv.Itoa(i), "KEYS", "bk")})
	}
	resp := tb.invoke(protocol.SendBatchMessage, protocol.FieldsOf("a", "pg", "b", "T", "c", TopicDefault, "d", "4",
		"e", "0", "f", "0", "g", "1700000000000", "h", "0", "i", "", "j", "0", "k", "false", "l", "0", "m", "true"), batch)
	if resp.Code != protocol.Success {
		t.Fatalf("batch: %d %s", resp.Code, resp.Remark)
	}
	ids := resp.Ext.Get("msgId")
	if len(ids) != 3*32+2 {
		t.Fatalf("batch ids %q", ids)
	}
	tb.waitDispatched()
	msgs := decodeBody(t, tb.pull("g", "T", 0, 0, "*").Body)
	if len(msgs) != 3 || msgs[2].Properties["TAGS"] != "T2" || msgs[1].Properties["CLUSTER"] != "DefaultCluster" || ids[33:65] != msgs[1].MsgID() {
		t.Fatalf("batch read back: %d", len(msgs))
	}
	if resp := tb.invoke(protocol.SendBatchMessage, protocol.FieldsOf("a", "pg", "b", "T", "e", "0", "f", "0", "g", "0", "h", "0"), batch[:10]); resp.Code != protocol.MessageIllegal {
		t.Fatalf("bad batch: %d", resp.Code)
	}
}

// notifications records NOTIFY_CONSUMER_IDS_CHANGED requests a client gets.
type notifications struct {
	mu   sync.Mutex
	seen []string
	ch   chan struct{}
}

func (n *notifications) ServeRemoting(req *remoting.Request) *protocol.Command {
	if req.Cmd.Code == protocol.NotifyConsumerIDsChanged {
		n.mu.Lock()
		n.seen = append(n.seen, req.Cmd.Ext.Get("consumerGroup"))
		n.mu.Unlock()
		select {
		case n.ch <- struct{}{}:
		default:
		}
	}
	req.Reply(nil)
	return nil
}

func heartbeat(clientID, group string, topics ...string) []byte {
	var subs []body.SubscriptionData
	for _, t := range topics {
		subs = append(subs, body.SubscriptionData{Topic: t, SubString: "*", SubVersion: time.Now().UnixNano(), ExpressionType: "TAG"})
	}
	b, _ := json.Marshal(body.HeartbeatData{ClientID: clientID, ConsumerDataSet: []body.ConsumerData{{
		GroupName: group, ConsumeType: body.ConsumePassively, MessageModel: body.Clustering,
		ConsumeFromWhere: "CONSUME_FROM_FIRST_OFFSET", SubscriptionDataSet: subs}}})
	return b
}

func TestHeartbeatMembership(t *testing.T) {
	notes := &notifications{ch: make(chan struct{}, 16)}
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), notes)
	createTopic(tb, "T", 2)
	if resp := tb.invoke(protocol.HeartBeat, nil, heartbeat("c1", "g", "T")); resp.Code != protocol.Success || resp.Version != protocol.CurrentVersion {
		t.Fatalf("heartbeat: %d version %d", resp.Code, resp.Version)
	}
	if _, ok := tb.b.topics.get("%RETRY%g"); !ok {
		t.Fatal("retry topic not created")
	}
	// A second member on its own connection.
	other := remoting.NewClient(remoting.ClientOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := other.Invoke(ctx, tb.addr, protocol.NewRequest(protocol.HeartBeat, nil, heartbeat("c2", "g", "T"))); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		resp := tb.invoke(protocol.GetConsumerListByGroup, protocol.FieldsOf("consumerGroup", "g"), nil)
		var l body.ConsumerListBody
		json.Unmarshal(resp.Body, &l)
		return l.ConsumerIDList
	}
	if got := list(); fmt.Sprint(got) != "[c1 c2]" {
		t.Fatalf("members %v", got)
	}
	count := func() int { notes.mu.Lock(); defer notes.mu.Unlock(); return len(notes.seen) }
	eventually(t, func() bool { return count() == 2 }) // c1 hears of its own join, then of c2's
	// The second member's connection closes: it leaves at once and c1 hears.
	other.Close()
	eventually(t, func() bool { return count() == 3 })
	if got := list(); fmt.Sprint(got) != "[c1]" {
		t.Fatalf("members after close %v", got)
	}
	// The pull uses the heartbeat's subscription when it sends none.
	tb.mustSend("T", 0, "x")
	tb.waitDispatched()
	resp := tb.invoke(protocol.PullMessage, pullFields("g", "T", 0, 0, 0, 0, ""), nil)
	if resp.Code != protocol.Success {
		t.Fatalf("pull with registered subscription: %d %s", resp.Code, resp.Remark)
	}
	resp = tb.invoke(protocol.PullMessage, pullFields("unknown", "T", 0, 0, 0, 0, ""), nil)
	if resp.Code != protocol.SubscriptionNotExist {
		t.Fatalf("pull of an unregistered group: %d", resp.Code)
	}
}

func TestOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, testBrokerConfig(t, dir), nil)
	createTopic(tb, "T", 1)
	for i := 0; i < 3; i++ {
		tb.mustSend("T", 0, "x")
	}
	tb.waitDispatched()
	q := func(tb *testBroker) *protocol.Command {
		return tb.invoke(protocol.QueryConsumerOffset, protocol.FieldsOf("consumerGroup", "g", "topic", "T", "queueId", "0"), nil)
	}
	if resp := q(tb); resp.Code != protocol.Success || resp.Ext.Get("offset") != "0" {
		t.Fatalf("new group on a young queue: %d %v", resp.Code, resp.Ext)
	}
	tb.invoke(protocol.UpdateConsumerOffset, protocol.FieldsOf("consumerGroup", "g", "topic", "T", "queueId", "0", "commitOffset", "2"), nil)
	tb.stop()
	tb = startBroker(t, testBrokerConfig(t, dir), nil)
	if resp := q(tb); resp.Ext.Get("offset") != "2" {
		t.Fatalf("after restart: %v", resp.Ext)
	}
	max := tb.invoke(protocol.GetMaxOffset, protocol.FieldsOf("topic", "T", "queueId", "0"), nil)
	min := tb.invoke(protocol.GetMinOffset, protocol.FieldsOf("topic", "T", "queueId", "0"), nil)
	if max.Ext.Get("offset") != "3" || min.Ext.Get("offset") != "0" {
		t.Fatalf("max %v min %v", max.Ext, min.Ext)
	}
	if resp := tb.mustSend("T", 0, "after restart"); resp.Ext.Get("queueOffset") != "3" {
		t.Fatalf("queue offset after restart %v", resp.Ext)
	}
}

func TestQueryAndView(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	resp := tb.mustSend("T", 0, "findme", "KEYS", "order-1 order-2", "UNIQ_KEY", "UNIQ1")
	tb.waitDispatched()
	for _, key := range []string{"order-1", "order-2", "UNIQ1"} {
		q := tb.invoke(protocol.QueryMessage, protocol.FieldsOf("topic", "T", "key", key, "maxNum", "10",
			"beginTimestamp", "0", "endTimestamp", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)), nil)
		if q.Code != protocol.Success || string(decodeBody(t, q.Body)[0].Body) != "findme" {
			t.Fatalf("query %s: %d %s", key, q.Code, q.Remark)
		}
	}
	_, off, _ := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	v := tb.invoke(protocol.ViewMessageByID, protocol.FieldsOf("offset", strconv.FormatInt(off, 10)), nil)
	if v.Code != protocol.Success || string(decodeBody(t, v.Body)[0].Body) != "findme" {
		t.Fatalf("view: %d %s", v.Code, v.Remark)
	}
	if v := tb.invoke(protocol.ViewMessageByID, protocol.FieldsOf("offset", "999999"), nil); v.Code != protocol.SystemError {
		t.Fatalf("view at a bad offset: %d", v.Code)
	}
	if q := tb.invoke(protocol.QueryMessage, protocol.FieldsOf("topic", "T", "key", "nope", "maxNum", "10", "beginTimestamp", "0", "endTimestamp", "1"), nil); q.Code != protocol.QueryNotFound {
		t.Fatalf("query miss: %d", q.Code)
	}
}

func TestAdminTopics(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 3)
	tb.mustSend("T", 2, "x")
	var w body.TopicConfigSerializeWrapper
	if err := json.Unmarshal(tb.invoke(protocol.GetAllTopicConfig, nil, nil).Body, &w); err != nil || w.TopicConfigTable["T"].WriteQueueNums != 3 {
		t.Fatalf("topic config: %v %+v", err, w.TopicConfigTable["T"])
	}
	if resp := tb.invoke(protocol.DeleteTopicInBroker, protocol.FieldsOf("topic", "T"), nil); resp.Code != protocol.Success {
		t.Fatalf("delete: %d %s", resp.Code, resp.Remark)
	}
	if _, ok := tb.b.topics.get("T"); ok {
		t.Fatal("topic still there")
	}
	if resp := tb.invoke(protocol.DeleteTopicInBroker, protocol.FieldsOf("topic", TopicDefault), nil); resp.Code != protocol.SystemError {
		t.Fatalf("deleting TBW102: %d", resp.Code)
	}
	createTopic(tb, "T", 3)
	if resp := tb.mustSend("T", 2, "again"); resp.Ext.Get("queueOffset") != "0" {
		t.Fatalf("re-created topic starts at %s", resp.Ext.Get("queueOffset"))
	}
}

func TestUnknownRequest(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	if resp := tb.invoke(9999, nil, nil); resp.Code != protocol.RequestCodeNotSupported || resp.Remark == "" {
		t.Fatalf("unknown code: %d %q", resp.Code, resp.Remark)
	}
}

// TestInlineSendsOnlyUnderAsyncFlush: the connection reader serves sends
// itself only when a send never waits (ASYNC_FLUSH); under SYNC_FLUSH a
// send waits for its group commit, and other requests may wait anyway.
func TestInlineSendsOnlyUnderAsyncFlush(t *testing.T) {
	if inlineSends(config.SyncFlush) != nil {
		t.Fatal("sends are served inline under SYNC_FLUSH")
	}
	pick := inlineSends(config.AsyncFlush)
	for code, want := range map[int32]bool{
		protocol.SendMessage: true, protocol.SendMessageV2: true, protocol.SendBatchMessage: true,
		protocol.PullMessage: false, protocol.EndTransaction: false, protocol.ConsumerSendMsgBack: false,
		protocol.HeartBeat: false, protocol.UpdateConsumerOffset: false,
	} {
		if got := pick(protocol.NewRequest(code, nil, nil)); got != want {
			t.Errorf("%s served inline: %v, want %v", protocol.RequestName(code), got, want)
		}
	}
}

// Held pulls end when their suspension does, never before, however many
// are parked, and none is left behind.
func TestHeldPullsExpire(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 4)
	type result struct {
		suspend time.Duration
		took    time.Duration
		resp    *protocol.Command
		err     error
	}
	done := make(chan result)
	const n = 12
	for i := range n {
		suspend := time.Duration(20+30*(i%4)) * time.Millisecond
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			began := time.Now()
			resp, err := tb.client.Invoke(ctx, tb.addr, protocol.NewRequest(protocol.PullMessage,
				pullFields("g", "T", int32(i%4), 0, pullSubscription|pullSuspend, suspend.Milliseconds(), "*"), nil))
			done <- result{suspend, time.Since(began), resp, err}
		}()
	}
	for range n {
		r := <-done
		if r.err != nil || r.resp.Code != protocol.PullNotFound {
			t.Fatalf("held pull of %v: %v %+v", r.suspend, r.err, r.resp)
		}
		if r.took < r.suspend {
			t.Fatalf("a pull suspended for %v was answered after %v", r.suspend, r.took)
		}
	}
	if c := tb.b.holds.count(); c != 0 {
		t.Fatalf("%d pulls still parked", c)
	}
}
