package compat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// txListener decides local transactions by the body's prefix: "commit-",
// "rollback-", or anything else unknown. A check-back commits the unknown
// ones (when allowed), rolls back the "rollback-" ones again, and records
// what it was asked.
type txListener struct {
	mu      sync.Mutex
	checked map[string][]time.Time // body → times checked
	allow   bool                   // check-backs answer commit; otherwise unknown
}

func newTxListener(allow bool) *txListener {
	return &txListener{checked: map[string][]time.Time{}, allow: allow}
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch b := string(m.Body); {
	case strings.HasPrefix(b, "commit-"):
		return primitive.CommitMessageState
	case strings.HasPrefix(b, "rollback-"):
		return primitive.RollbackMessageState
	}
	return primitive.UnknowState
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checked[string(m.Body)] = append(l.checked[string(m.Body)], time.Now())
	switch {
	case strings.HasPrefix(string(m.Body), "rollback-"):
		return primitive.RollbackMessageState
	case l.allow:
		return primitive.CommitMessageState
	}
	return primitive.UnknowState
}

func (l *txListener) setAllow(v bool) { l.mu.Lock(); l.allow = v; l.mu.Unlock() }

// checks returns the bodies checked, sorted, and the first check time of
// each.
func (l *txListener) checks() ([]string, map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bs []string
	first := map[string]time.Time{}
	for b, ts := range l.checked {
		bs = append(bs, b)
		first[b] = ts[0]
	}
	slices.Sort(bs)
	return bs, first
}

func newTxProducer(t *testing.T, p *Petrel, l *txListener) rocketmq.TransactionProducer {
	t.Helper()
	tp, err := rocketmq.NewTransactionProducer(l,
		producer.WithNameServer(primitive.NamesrvAddr{p.NamesrvAddr}),
		producer.WithGroupName(instanceName("txpg")),
		producer.WithInstanceName(instanceName("txproducer")),
		producer.WithRetry(2),
	)
	if err != nil {
		t.Fatalf("new transaction producer: %v", err)
	}
	if err := tp.Start(); err != nil {
		t.Fatalf("start transaction producer: %v", err)
	}
	t.Cleanup(func() { tp.Shutdown() })
	return tp
}

// sendTx sends one transactional message and checks the outcome the
// client reports.
func sendTx(t *testing.T, tp rocketmq.TransactionProducer, topic, body string, want primitive.LocalTransactionState) *primitive.TransactionSendResult {
	t.Helper()
	msg := primitive.NewMessage(topic, []byte(body))
	msg.WithKeys([]string{"key-" + body})
	msg.WithTag("tx")
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	res, err := tp.SendMessageInTransaction(ctx, msg)
	if err != nil {
		t.Fatalf("SendMessageInTransaction %s: %v", body, err)
	}
	if res.Status != primitive.SendOK || res.State != want {
		t.Fatalf("SendMessageInTransaction %s: status %d state %d, want SEND_OK and %d", body, res.Status, res.State, want)
	}
	return res
}

// TestTransactionOutcomes: a transaction producer whose local transaction
// commits, rolls back, or answers UNKNOW and then commits on check-back.
// The consumer sees exactly the committed messages, with the id and keys
// the producer saw; only the unknown ones are checked back.
func TestTransactionOutcomes(t *testing.T) {
	p := startPetrel(t, "transactionTimeOut=300", "transactionCheckInterval=500")
	const topic = "TxOutcomes"
	createTopic(t, p, topic, 1) // one queue: the sentinel below comes after every commit
	l := newTxListener(true)
	tp := newTxProducer(t, p, l)
	ids := map[string]string{}
	var committed []string
	for i := range 3 {
		for _, kind := range []struct {
			prefix string
			state  primitive.LocalTransactionState
		}{{"commit", primitive.CommitMessageState}, {"rollback", primitive.RollbackMessageState}, {"unknown", primitive.UnknowState}} {
			b := fmt.Sprintf("%s-%d", kind.prefix, i)
			ids[b] = sendTx(t, tp, topic, b, kind.state).MsgID
			if kind.prefix != "rollback" {
				committed = append(committed, b)
			}
		}
	}
	in := newInbox()
	startPushConsumer(t, p, "TxOutcomesGroup", topic, "*", in)
	waitDelivered(t, in, committed, "the consumer of committed transactions")

	// Everything stored so far precedes this message in the queue.
	sentinel := "sentinel"
	sendAllSync(t, newProducer(t, p), topic, []string{sentinel})
	waitDelivered(t, in, []string{sentinel}, "the consumer")
	got := in.ByBody()
	if len(got) != len(committed)+1 {
		var all []string
		for b := range got {
			all = append(all, b)
		}
		slices.Sort(all)
		t.Fatalf("consumer saw %v, want exactly %v and the sentinel", all, committed)
	}
	for _, b := range committed {
		m := got[b]
		if m.MsgId != ids[b] || m.GetKeys() != "key-"+b || m.GetTags() != "tx" || m.Topic != topic {
			t.Errorf("%s delivered with id %s keys %q tags %q topic %s; the producer saw id %s", b, m.MsgId, m.GetKeys(), m.GetTags(), m.Topic, ids[b])
		}
	}
	checked, _ := l.checks()
	for _, b := range checked {
		if !strings.HasPrefix(b, "unknown-") {
			t.Errorf("%s was checked back though its producer ended it", b)
		}
	}
	if len(checked) != 3 {
		t.Errorf("checked %v, want the three unknown ones", checked)
	}
}

// TestTransactionCheckedAfterRestart leaves a half message unresolved
// across a graceful restart and a kill -9: after each, the broker checks it
// back and the commit reaches the consumer once.
func TestTransactionCheckedAfterRestart(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "graceful"
		if kill {
			name = "kill-9"
		}
		t.Run(name, func(t *testing.T) {
			// No check before the restart: the first check is an hour away.
			p := startPetrel(t, "transactionTimeOut=3600000", "transactionCheckInterval=500")
			const topic = "TxRestart"
			createTopic(t, p, topic, 1)
			l := newTxListener(false)
			tp := newTxProducer(t, p, l)
			sendTx(t, tp, topic, "open-1", primitive.UnknowState)
			sendTx(t, tp, topic, "rollback-1", primitive.RollbackMessageState)
			if kill {
				p.Kill(t)
			} else {
				p.Stop(t)
			}
			p.sets = append(p.sets, "transactionTimeOut=300")
			restarted := time.Now()
			p.Restart(t)
			l.setAllow(true)

			// A transactional send on the new broker process reconnects the
			// producer (its heartbeat comes only every 30 s).
			sendTx(t, tp, topic, "commit-after", primitive.CommitMessageState)
			in := newInbox()
			startPushConsumer(t, p, "TxRestartGroup", topic, "*", in)
			waitDelivered(t, in, []string{"open-1", "commit-after"}, "the consumer")
			checked, first := l.checks()
			// The client's END_TRANSACTION is fire-and-forget: a kill -9
			// right after the send may come before the broker read the
			// rollback, which is then checked back instead.
			if kill && slices.Equal(checked, []string{"open-1", "rollback-1"}) {
				checked = checked[:1]
			}
			if !slices.Equal(checked, []string{"open-1"}) || first["open-1"].Before(restarted) {
				t.Fatalf("checked %v (open-1 first at %v, restart at %v), want open-1 after the restart", checked, first["open-1"], restarted)
			}
			sendAllSync(t, newProducer(t, p), topic, []string{"sentinel"})
			waitDelivered(t, in, []string{"sentinel"}, "the consumer")
			if n := in.Count("open-1"); n != 1 || in.Count("rollback-1") != 0 {
				t.Fatalf("open-1 delivered %d times, rollback-1 %d times", n, in.Count("rollback-1"))
			}
		})
	}
}
