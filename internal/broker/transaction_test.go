package broker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// half is a sent half message as the producer knows it.
type half struct {
	queueOffset int64
	phys        int64
	uniq        string
}

func sendHalf(t *testing.T, tb *testBroker, topic, text, uniq string, props ...string) half {
	t.Helper()
	resp := tb.mustSend(topic, 0, text, append([]string{"TRAN_MSG", "true", "PGROUP", "pg", "UNIQ_KEY", uniq, "KEYS", "k-" + uniq}, props...)...)
	_, phys, err := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	if err != nil {
		t.Fatal(err)
	}
	qo, _ := strconv.ParseInt(resp.Ext.Get("queueOffset"), 10, 64)
	if resp.Ext.Get("queueId") != "0" {
		t.Fatalf("half reply names queue %s, want the requested 0", resp.Ext.Get("queueId"))
	}
	return half{queueOffset: qo, phys: phys, uniq: uniq}
}

func endTx(tb *testBroker, h half, decision int, group string, fromCheck bool) *protocol.Command {
	return tb.invoke(protocol.EndTransaction, protocol.FieldsOf("producerGroup", group,
		"tranStateTableOffset", strconv.FormatInt(h.queueOffset, 10), "commitLogOffset", strconv.FormatInt(h.phys, 10),
		"commitOrRollback", strconv.Itoa(decision), "fromTransactionCheck", strconv.FormatBool(fromCheck), "msgId", h.uniq), nil)
}

const (
	commitTx   = message.TransactionCommitType
	rollbackTx = message.TransactionRollbackType
)

func TestTransactionCommitAndRollback(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	createTopic(tb, "T", 1)
	c := sendHalf(t, tb, "T", "commit me", "U1", "TAGS", "A")
	r := sendHalf(t, tb, "T", "roll me back", "U2")
	u := sendHalf(t, tb, "T", "unknown", "U3")
	tb.waitDispatched()
	if resp := tb.pull("g", "T", 0, 0, "*"); resp.Code == protocol.Success {
		t.Fatal("a half message is visible in its topic")
	}
	if resp := endTx(tb, u, 0, "pg", false); resp.Code != protocol.Success {
		t.Fatalf("unknown state: %d %s", resp.Code, resp.Remark)
	}
	if resp := endTx(tb, c, commitTx, "pg", false); resp.Code != protocol.Success || resp.Remark != "" {
		t.Fatalf("commit: %d %s", resp.Code, resp.Remark)
	}
	if resp := endTx(tb, r, rollbackTx, "pg", false); resp.Code != protocol.Success || resp.Remark != "" {
		t.Fatalf("rollback: %d %s", resp.Code, resp.Remark)
	}
	m := tb.waitPull("T", 0, 0)
	if string(m.Body) != "commit me" || m.Topic != "T" || m.Properties["UNIQ_KEY"] != "U1" || m.Properties["KEYS"] != "k-U1" ||
		m.Properties["TAGS"] != "A" || m.Properties["TRAN_MSG"] != "true" || m.Properties["PGROUP"] != "pg" ||
		m.Properties["REAL_TOPIC"] != "" || m.Properties["REAL_QID"] != "" ||
		message.TransactionType(m.SysFlag) != commitTx || m.PreparedTransactionOffset != c.phys {
		t.Fatalf("committed message %+v", m)
	}

	// Twice, late, crossed, or for nothing: answered, nothing changes.
	for _, again := range []struct {
		h        half
		decision int
	}{{c, commitTx}, {c, rollbackTx}, {r, commitTx}, {r, rollbackTx}} {
		if resp := endTx(tb, again.h, again.decision, "pg", true); resp.Code != protocol.Success || !strings.Contains(resp.Remark, "already") {
			t.Fatalf("ending %s again: %d %q", again.h.uniq, resp.Code, resp.Remark)
		}
	}
	for name, resp := range map[string]*protocol.Command{
		"unknown offset": endTx(tb, half{queueOffset: 0, phys: 1 << 40, uniq: "x"}, commitTx, "pg", false),
		"not a half":     endTx(tb, half{queueOffset: 0, phys: m.PhysicalOffset, uniq: "x"}, commitTx, "pg", false),
		"wrong group":    endTx(tb, u, commitTx, "other", false),
		"wrong offset":   endTx(tb, half{queueOffset: u.queueOffset + 7, phys: u.phys, uniq: u.uniq}, commitTx, "pg", false),
		"bad decision":   endTx(tb, u, 5, "pg", false),
	} {
		if resp.Code != protocol.SystemError || resp.Remark == "" {
			t.Errorf("%s: %d %q, want SYSTEM_ERROR with a reason", name, resp.Code, resp.Remark)
		}
	}
	tb.waitDispatched()
	if n := tb.b.store.MaxOffset("T", 0); n != 1 {
		t.Fatalf("topic holds %d messages, want only the committed one", n)
	}
	if n := tb.b.store.MaxOffset(TopicTransOpHalf, 0); n != 2 {
		t.Fatalf("%d op messages, want 2 (commit and rollback)", n)
	}
	if n := tb.b.tx.unsettled(); n != 1 {
		t.Fatalf("%d unsettled halves, want 1 (state unknown)", n)
	}
}

func TestTransactionRefusals(t *testing.T) {
	cfg := testBrokerConfig(t, t.TempDir())
	cfg.RejectTransactionMessage = true
	tb := startBroker(t, cfg, nil)
	createTopic(tb, "T", 1)
	if resp := tb.send("T", 0, "x", "TRAN_MSG", "true", "PGROUP", "pg"); resp.Code != protocol.NoPermission || resp.Remark == "" {
		t.Fatalf("rejectTransactionMessage=true: %d %q", resp.Code, resp.Remark)
	}
	for _, sysFlag := range []int{commitTx, rollbackTx} {
		resp := tb.invoke(protocol.SendMessage, protocol.FieldsOf("producerGroup", "pg", "topic", "T", "queueId", "0",
			"sysFlag", strconv.Itoa(sysFlag), "bornTimestamp", "1", "flag", "0"), []byte("x"))
		if resp.Code != protocol.MessageIllegal {
			t.Fatalf("client-set transaction type %d: %d %s", sysFlag, resp.Code, resp.Remark)
		}
	}
}

// checks records the CHECK_TRANSACTION_STATE requests a producer gets and
// may answer them.
type checks struct {
	mu   sync.Mutex
	reqs []*protocol.Command
	ch   chan *protocol.Command
}

func (c *checks) ServeRemoting(req *remoting.Request) *protocol.Command {
	if req.Cmd.Code == protocol.CheckTransactionState {
		c.mu.Lock()
		c.reqs = append(c.reqs, req.Cmd)
		c.mu.Unlock()
		select {
		case c.ch <- req.Cmd:
		default:
		}
	}
	req.Reply(nil)
	return nil
}

func (c *checks) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.reqs) }

func (c *checks) next(t *testing.T) *protocol.Command {
	t.Helper()
	select {
	case cmd := <-c.ch:
		return cmd
	case <-time.After(20 * time.Second):
		t.Fatal("no CHECK_TRANSACTION_STATE in 20 s")
		return nil
	}
}

func producerHeartbeat(tb *testBroker, group string) {
	tb.t.Helper()
	b, _ := json.Marshal(body.HeartbeatData{ClientID: "producer-1", ProducerDataSet: []body.ProducerData{{GroupName: group}}})
	if resp := tb.invoke(protocol.HeartBeat, nil, b); resp.Code != protocol.Success {
		tb.t.Fatalf("heartbeat: %d %s", resp.Code, resp.Remark)
	}
}

// txCfg starts a broker that checks a half 100 ms after it is stored,
// then every 200 ms, and a client that records the checks it gets.
func txCfg(t *testing.T, dir string, checkMax int) (*testBroker, *checks) {
	cfg := testBrokerConfig(t, dir)
	cfg.TransactionTimeout = 100 * time.Millisecond
	cfg.TransactionCheckInterval = 200 * time.Millisecond
	cfg.TransactionCheckMax = checkMax
	c := &checks{ch: make(chan *protocol.Command, 64)}
	return startBroker(t, cfg, c), c
}

func TestTransactionCheckBack(t *testing.T) {
	tb, cks := txCfg(t, t.TempDir(), 5)
	createTopic(tb, "T", 1)
	producerHeartbeat(tb, "pg")
	h := sendHalf(t, tb, "T", "decided later", "U9", "TAGS", "B")
	req := cks.next(t)
	got := half{uniq: req.Ext.Get("msgId")}
	got.phys, _ = strconv.ParseInt(req.Ext.Get("commitLogOffset"), 10, 64)
	got.queueOffset, _ = strconv.ParseInt(req.Ext.Get("tranStateTableOffset"), 10, 64)
	if got != h || req.Ext.Get("transactionId") != "U9" || req.Ext.Get("offsetMsgId") != message.OffsetMsgID(tb.b.storeHost, h.phys) {
		t.Fatalf("check header %v, want %+v", req.Ext, h)
	}
	m := decodeBody(t, req.Body)[0]
	if m.Topic != "T" || string(m.Body) != "decided later" || m.Properties["PGROUP"] != "pg" || m.Properties["UNIQ_KEY"] != "U9" ||
		m.Properties["TRANSACTION_CHECK_TIMES"] != "1" || m.Properties["TAGS"] != "B" || m.QueueID != 0 {
		t.Fatalf("check body %+v", m)
	}
	// The producer answers from the check: committed.
	if resp := endTx(tb, got, commitTx, "pg", true); resp.Code != protocol.Success {
		t.Fatalf("commit from check: %d %s", resp.Code, resp.Remark)
	}
	if m := tb.waitPull("T", 0, 0); string(m.Body) != "decided later" {
		t.Fatalf("delivered %q", m.Body)
	}
	if n := tb.b.tx.unsettled(); n != 0 {
		t.Fatalf("%d unsettled after the commit", n)
	}
}

func TestTransactionCheckMaxDiscards(t *testing.T) {
	tb, cks := txCfg(t, t.TempDir(), 2)
	createTopic(tb, "T", 1)
	producerHeartbeat(tb, "pg")
	sendHalf(t, tb, "T", "nobody decides", "U5")
	for i := 1; i <= 2; i++ {
		if m := decodeBody(t, cks.next(t).Body)[0]; m.Properties["TRANSACTION_CHECK_TIMES"] != strconv.Itoa(i) {
			t.Fatalf("check %d says TRANSACTION_CHECK_TIMES=%s", i, m.Properties["TRANSACTION_CHECK_TIMES"])
		}
	}
	d := tb.waitPull(TopicTransCheckMax, 0, 0)
	if string(d.Body) != "nobody decides" || d.Properties["REAL_TOPIC"] != "T" || d.Properties["UNIQ_KEY"] != "U5" || d.Properties["TRANSACTION_CHECK_TIMES"] != "2" {
		t.Fatalf("discarded %+v", d)
	}
	if n := cks.count(); n != 2 {
		t.Fatalf("%d checks, want transactionCheckMax=2", n)
	}
	if n := tb.b.tx.unsettled(); n != 0 {
		t.Fatalf("%d unsettled after the discard", n)
	}
	tb.waitDispatched()
	if n := tb.b.store.MaxOffset("T", 0); n != 0 {
		t.Fatal("a discarded half reached its topic")
	}
}

func TestTransactionsSurviveRestart(t *testing.T) {
	for _, lostState := range []bool{false, true} {
		t.Run("stateFile="+strconv.FormatBool(!lostState), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testBrokerConfig(t, dir)
			cfg.TransactionTimeout = time.Hour // no checks before the restart
			tb := startBroker(t, cfg, nil)
			createTopic(tb, "T", 1)
			open := sendHalf(t, tb, "T", "open", "U1")
			committed := sendHalf(t, tb, "T", "committed", "U2")
			rolled := sendHalf(t, tb, "T", "rolled back", "U3")
			endTx(tb, committed, commitTx, "pg", false)
			endTx(tb, rolled, rollbackTx, "pg", false)
			tb.stop()
			if lostState {
				// Only the op queue tells what is settled.
				if err := os.Remove(filepath.Join(metaDir(cfg), txStateFile)); err != nil {
					t.Fatal(err)
				}
			}

			tb, cks := txCfg(t, dir, 5)
			if n := tb.b.tx.unsettled(); n != 1 {
				t.Fatalf("%d unsettled after the restart, want 1", n)
			}
			producerHeartbeat(tb, "pg")
			req := cks.next(t)
			if req.Ext.Get("msgId") != "U1" || req.Ext.Get("tranStateTableOffset") != strconv.FormatInt(open.queueOffset, 10) {
				t.Fatalf("checked %v, want the open half", req.Ext)
			}
			if resp := endTx(tb, committed, commitTx, "pg", false); !strings.Contains(resp.Remark, "already") {
				t.Fatalf("a settled half was not known as settled: %d %q", resp.Code, resp.Remark)
			}
			if resp := endTx(tb, open, rollbackTx, "pg", true); resp.Code != protocol.Success || resp.Remark != "" {
				t.Fatalf("rollback after the restart: %d %q", resp.Code, resp.Remark)
			}
			tb.waitDispatched()
			if n := tb.b.store.MaxOffset("T", 0); n != 1 {
				t.Fatalf("topic holds %d messages, want 1", n)
			}
		})
	}
}

func TestDelayedTransactionalMessage(t *testing.T) {
	tb := delayCfg(t, t.TempDir())
	createTopic(tb, "T", 1)
	h := sendHalf(t, tb, "T", "delayed after commit", "U1", "DELAY", "2")
	if resp := endTx(tb, h, commitTx, "pg", false); resp.Code != protocol.Success {
		t.Fatalf("commit: %d %s", resp.Code, resp.Remark)
	}
	tb.waitDispatched()
	if n := tb.b.store.MaxOffset(TopicSchedule, 1); n != 1 {
		t.Fatalf("the committed message did not wait in delay level 2: %d", n)
	}
	if m := tb.waitPull("T", 0, 0); string(m.Body) != "delayed after commit" {
		t.Fatalf("delivered %q", m.Body)
	}
}

func TestDoneSet(t *testing.T) {
	var d doneSet
	for _, off := range []int64{3, 0, 1, 200, 2} {
		d.add(off)
	}
	for off := int64(0); off < 300; off++ {
		if want := off <= 3 || off == 200; d.has(off) != want {
			t.Fatalf("has(%d) = %v", off, !want)
		}
	}
	for off := int64(4); off < 128; off++ {
		d.add(off)
	}
	if d.watermark != 128 || !d.has(200) || d.has(199) {
		t.Fatalf("watermark %d", d.watermark)
	}
	back, err := decodeDoneSet(d.watermark, d.encode())
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 300; off++ {
		if back.has(off) != d.has(off) {
			t.Fatalf("decoded has(%d) differs", off)
		}
	}
	if _, err := decodeDoneSet(0, "not base64!"); err == nil {
		t.Fatal("a bad bitmap decoded")
	}
}
