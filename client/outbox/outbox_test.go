package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/client"
	"github.com/petrel-mq/petrel/client/outbox"
	"github.com/petrel-mq/petrel/internal/testdb"
	"github.com/petrel-mq/petrel/internal/testserver"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// forEachDB runs f against a real PostgreSQL schema and a real SQLite file.
func forEachDB(t *testing.T, f func(t *testing.T, db *sql.DB, d outbox.Dialect)) {
	t.Run("PostgreSQL", func(t *testing.T) { f(t, testdb.Postgres(t), outbox.PostgreSQL) })
	t.Run("SQLite", func(t *testing.T) { f(t, testdb.SQLite(t), outbox.SQLite) })
}

func newOutbox(t *testing.T, db *sql.DB, d outbox.Dialect) *outbox.Outbox {
	t.Helper()
	o, err := outbox.New(db, outbox.Options{Dialect: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := o.Migrate(ctx(t)); err != nil { // idempotent
		t.Fatal(err)
	}
	return o
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// cluster starts a petrel with topic Outbox (one queue, so stored order is
// send order) and a producer on it.
func cluster(t *testing.T) (*testserver.Cluster, *client.Producer) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Outbox", 1)
	p, err := client.NewProducer(client.ProducerConfig{
		Config: client.Config{NameServers: []string{c.NamesrvAddr}, InstanceName: t.Name(), Logger: quiet()},
		Group:  "outbox",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return c, p
}

// enqueue writes a business row and an outbox row in one transaction and
// commits it (or rolls it back).
func enqueue(t *testing.T, db *sql.DB, o *outbox.Outbox, msg *client.Message, commit bool) string {
	t.Helper()
	tx, err := db.BeginTx(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx(t), `CREATE TABLE IF NOT EXISTS orders (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	id, err := o.Enqueue(ctx(t), tx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// stored returns the bodies of the stored messages by UNIQ_KEY, and the
// UNIQ_KEYs in stored order.
func stored(c *testserver.Cluster) (map[string][]string, []string) {
	byID := make(map[string][]string)
	var order []string
	for _, m := range c.AllMessages("Outbox") {
		id := m.Properties["UNIQ_KEY"]
		byID[id] = append(byID[id], string(m.Body))
		order = append(order, id)
	}
	return byID, order
}

func TestRollbackPublishesNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d outbox.Dialect) {
		c, p := cluster(t)
		o := newOutbox(t, db, d)
		enqueue(t, db, o, &client.Message{Topic: "Outbox", Body: []byte("rolled back")}, false)
		id := enqueue(t, db, o, &client.Message{Topic: "Outbox", Body: []byte("committed"), Keys: []string{"order-1"}}, true)
		if st, err := o.Stats(ctx(t)); err != nil || st.Pending != 1 {
			t.Fatalf("stats %+v, %v; want 1 pending", st, err)
		}
		r, err := o.NewRelay(outbox.RelayConfig{Sender: p, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.RelayOnce(ctx(t)); err != nil || n != 1 {
			t.Fatalf("relayed %d, %v", n, err)
		}
		byID, _ := stored(c)
		if len(byID) != 1 || len(byID[id]) != 1 || byID[id][0] != "committed" {
			t.Fatalf("stored %v; want only the committed message under id %s", byID, id)
		}
		if st, err := o.Stats(ctx(t)); err != nil || st.Pending != 0 || st.OldestPendingAge != 0 {
			t.Fatalf("stats %+v, %v; want nothing pending", st, err)
		}
		if row, err := o.Row(ctx(t), id); err != nil || !row.Sent || row.Attempts != 1 {
			t.Fatalf("row %+v, %v", row, err)
		}
	})
}

// killedAfterSend sends, then kills its relay (cancels the relay's
// context) before the relay can record the send: a crash between the
// broker storing the message and the row being marked.
type killedAfterSend struct {
	p    *client.Producer
	kill context.CancelFunc
}

func (k *killedAfterSend) Send(ctx context.Context, msgs ...*client.Message) (*client.SendResult, error) {
	res, err := k.p.Send(context.Background(), msgs...)
	k.kill()
	return res, err
}

func TestRelayKilledMidSendResendsWithSameID(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d outbox.Dialect) {
		c, p := cluster(t)
		o := newOutbox(t, db, d)
		var ids []string
		for i := range 3 {
			ids = append(ids, enqueue(t, db, o, &client.Message{Topic: "Outbox", Body: []byte("m" + strconv.Itoa(i))}, true))
		}
		killCtx, kill := context.WithCancel(ctx(t))
		r1, _ := o.NewRelay(outbox.RelayConfig{Sender: &killedAfterSend{p: p, kill: kill}, Lease: 50 * time.Millisecond, Logger: quiet()})
		if _, err := r1.RelayOnce(killCtx); err != nil {
			t.Fatal(err)
		}
		// A new relay takes the rows over once the dead one's lease ends.
		r2, _ := o.NewRelay(outbox.RelayConfig{Sender: p, Logger: quiet()})
		testserver.Eventually(t, 10*time.Second, func() bool {
			if _, err := r2.RelayOnce(ctx(t)); err != nil {
				t.Fatal(err)
			}
			st, err := o.Stats(ctx(t))
			return err == nil && st.Pending == 0
		})
		byID, _ := stored(c)
		if len(byID) != 3 {
			t.Fatalf("stored ids %v; want the 3 enqueued", byID)
		}
		for i, id := range ids {
			bodies := byID[id]
			want := 1
			if i == 0 {
				want = 2 // sent by the killed relay, then again
			}
			if len(bodies) != want {
				t.Fatalf("message %d (id %s) stored %d times, want %d", i, id, len(bodies), want)
			}
			for _, b := range bodies {
				if b != "m"+strconv.Itoa(i) {
					t.Fatalf("id %s carries %q", id, b)
				}
			}
		}
	})
}

// watchedSender fails the first attempt of some messages and records any
// message sent by two relays at the same time.
type watchedSender struct {
	p        *client.Producer
	failOnce func(body string) bool

	mu       sync.Mutex
	inflight map[string]bool
	failed   map[string]bool
	overlaps []string
}

var errInjected = errors.New("injected failure")

func (w *watchedSender) Send(ctx context.Context, msgs ...*client.Message) (*client.SendResult, error) {
	id := msgs[0].ID
	w.mu.Lock()
	if w.inflight[id] {
		w.overlaps = append(w.overlaps, id)
	}
	w.inflight[id] = true
	fail := w.failOnce(string(msgs[0].Body)) && !w.failed[id]
	w.failed[id] = w.failed[id] || fail
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inflight, id)
		w.mu.Unlock()
	}()
	if fail {
		return nil, errInjected
	}
	return w.p.Send(ctx, msgs...)
}

func TestTwoRelaysKeepKeyOrderAndNeverOverlap(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d outbox.Dialect) {
		c, p := cluster(t)
		o := newOutbox(t, db, d)
		keys := []string{"A", "B", "C", ""}
		var ids []string
		bodyOf := make(map[string]string)
		for i := range 40 {
			key := keys[i%len(keys)]
			body := fmt.Sprintf("%s/%02d", key, i)
			id := enqueue(t, db, o, &client.Message{Topic: "Outbox", Body: []byte(body), ShardingKey: key}, true)
			ids = append(ids, id)
			bodyOf[id] = body
		}
		w := &watchedSender{p: p, inflight: map[string]bool{}, failed: map[string]bool{},
			failOnce: func(body string) bool { return strings.HasSuffix(body, "3") || strings.HasSuffix(body, "8") }}
		runCtx, stop := context.WithCancel(ctx(t))
		var wg sync.WaitGroup
		var relays []*outbox.Relay
		for i := range 2 {
			r, err := o.NewRelay(outbox.RelayConfig{Sender: w, ID: "relay-" + strconv.Itoa(i), BatchSize: 3,
				PollInterval: 5 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			relays = append(relays, r)
			wg.Go(func() { r.Run(runCtx) })
		}
		testserver.Eventually(t, 20*time.Second, func() bool {
			st, err := o.Stats(ctx(t))
			return err == nil && st.Pending == 0
		})
		stop()
		wg.Wait()
		if len(w.overlaps) > 0 {
			t.Fatalf("sent by two relays at once: %v", w.overlaps)
		}
		byID, order := stored(c)
		for _, id := range ids {
			if len(byID[id]) != 1 {
				t.Fatalf("id %s (%s) stored %d times", id, bodyOf[id], len(byID[id]))
			}
		}
		// Per key, stored order is enqueue order, despite failed attempts.
		last := map[string]string{}
		for _, id := range order {
			body := bodyOf[id]
			key, _, _ := strings.Cut(body, "/")
			if key != "" && body < last[key] {
				t.Fatalf("key %s: %s stored after %s", key, body, last[key])
			}
			last[key] = body
		}
		for id, failed := range w.failed {
			if !failed {
				continue
			}
			row, err := o.Row(ctx(t), id)
			if err != nil || !row.Sent || row.Attempts != 2 || !strings.Contains(row.LastError, "injected") {
				t.Fatalf("row of a message that failed once: %+v, %v", row, err)
			}
		}
	})
}
