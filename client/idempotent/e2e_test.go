package idempotent_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/petrel-mq/petrel/client"
	"github.com/petrel-mq/petrel/client/idempotent"
	"github.com/petrel-mq/petrel/client/outbox"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/testdb"
	"github.com/petrel-mq/petrel/internal/testserver"
)

const (
	e2eMessages = 20 // distinct ids
	e2eCopies   = 3  // sends of each id
)

// listenerCalls counts, per message id, the deliveries the consumer
// handed to its listener and those the listener finished successfully.
type listenerCalls struct {
	mu        sync.Mutex
	delivered map[string]int
	succeeded map[string]int
}

// wrap counts around the idempotent listener under test.
func (c *listenerCalls) wrap(l client.ConcurrentListener) client.ConcurrentListener {
	return func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		c.mu.Lock()
		for _, m := range msgs {
			c.delivered[m.MsgID]++
		}
		c.mu.Unlock()
		res := l(ctx, msgs)
		if res == client.ConsumeSuccess {
			c.mu.Lock()
			for _, m := range msgs {
				c.succeeded[m.MsgID]++
			}
			c.mu.Unlock()
		}
		return res
	}
}

// allSucceeded reports whether every id had at least n successful
// deliveries; the handler's effects are then complete.
func (c *listenerCalls) allSucceeded(ids []string, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.succeeded[id] < n {
			return false
		}
	}
	return true
}

// resendAndConsume runs a petrel broker and a push consumer whose listener
// is idempotent.Listener(h). It sends e2eMessages messages, each
// e2eCopies times under the id it chose (Message.ID), to a topic of two
// queues, so copies of one id are stored apart and consumed concurrently.
// It waits until every copy was delivered and handled, checks that the
// broker really stored every copy, that the listener was called for each
// and that the delivery fail failed was delivered again, and returns the
// ids.
func resendAndConsume(t *testing.T, fail *failOnce, h idempotent.Handler) []string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := testserver.Start(t, testserver.Options{Configure: func(_ int, cfg *config.Broker) {
		for i := range cfg.MessageDelayLevel { // redeliveries after a failure come back at once
			cfg.MessageDelayLevel[i] = 100 * time.Millisecond
		}
	}})
	c.CreateTopic("Orders", 2)
	calls := &listenerCalls{delivered: make(map[string]int), succeeded: make(map[string]int)}
	pc, err := client.NewPushConsumer(client.PushConsumerConfig{
		Config:                client.Config{NameServers: []string{c.NamesrvAddr}, InstanceName: t.Name() + "-consumer", Logger: quiet},
		Group:                 "billing",
		ConsumeFrom:           client.ConsumeFromFirstOffset,
		PersistOffsetInterval: 100 * time.Millisecond,
		Listener:              calls.wrap(idempotent.Listener(h)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe("Orders", "*"); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	p, err := client.NewProducer(client.ProducerConfig{
		Config: client.Config{NameServers: []string{c.NamesrvAddr}, InstanceName: t.Name() + "-producer", Logger: quiet},
		Group:  "orders",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	ids := make([]string, e2eMessages)
	for i := range ids {
		ids[i] = client.NewMessageID()
	}
	// Copy after copy, so the copies of one id are far apart in the queues
	// and not all consumed by one goroutine.
	for k := range e2eCopies {
		for i, id := range ids {
			m := &client.Message{Topic: "Orders", ID: id, Body: []byte("order-" + strconv.Itoa(i))}
			res, err := p.Send(ctx(t), m)
			if err != nil || res.Status != client.SendOK || res.MsgID != id {
				t.Fatalf("copy %d of %s: %+v, %v", k, id, res, err)
			}
		}
	}
	stored := make(map[string]int)
	for _, m := range c.AllMessages("Orders") {
		stored[m.Properties[message.PropertyUniqClientMessageID]]++
	}
	for _, id := range ids {
		if stored[id] != e2eCopies {
			t.Fatalf("the broker stored %d copies of %s, want %d", stored[id], id, e2eCopies)
		}
	}

	testserver.Eventually(t, 20*time.Second, func() bool { return calls.allSucceeded(ids, e2eCopies) })
	calls.mu.Lock()
	defer calls.mu.Unlock()
	total := 0
	for _, id := range ids {
		if calls.delivered[id] < e2eCopies {
			t.Errorf("%s: the listener saw %d deliveries, want at least %d", id, calls.delivered[id], e2eCopies)
		}
		total += calls.delivered[id]
	}
	// The failed delivery went back to the broker and came again (the
	// other copies of its id would have applied the effect anyway).
	if fail.id == "" {
		t.Fatal("no delivery failed")
	}
	if n := calls.delivered[fail.id]; n < e2eCopies+1 {
		t.Errorf("%s: failed once, delivered %d times; want at least %d", fail.id, n, e2eCopies+1)
	}
	t.Logf("%d listener calls for %d ids sent %d times each", total, len(ids), e2eCopies)
	return ids
}

// failOnce fails the first handler call it is asked about, so one
// delivery goes back to the broker and is redelivered.
type failOnce struct {
	mu sync.Mutex
	id string // the message id whose delivery failed
}

func (f *failOnce) now(m *client.MessageExt) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id != "" {
		return false
	}
	f.id = m.MsgID
	return true
}

// TestConsumerAppliesResentMessagesOnceSQL: a push consumer with the SQL
// store, on PostgreSQL and SQLite, inserts one effect row per message id
// although each id was sent three times and delivered at least as often;
// the one delivery whose handler failed after inserting left no row (its
// transaction rolled back) and its redelivery applied it.
func TestConsumerAppliesResentMessagesOnceSQL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		db      func(testing.TB) *sql.DB
		dialect outbox.Dialect
		insert  string
	}{
		{"PostgreSQL", testdb.Postgres, outbox.PostgreSQL, `INSERT INTO effects (msg_id, body) VALUES ($1, $2)`},
		{"SQLite", testdb.SQLite, outbox.SQLite, `INSERT INTO effects (msg_id, body) VALUES (?, ?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			if _, err := db.ExecContext(ctx(t), `CREATE TABLE effects (msg_id TEXT NOT NULL, body TEXT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			s, err := idempotent.NewSQLStore(db, idempotent.SQLConfig{Dialect: tc.dialect, Group: "billing"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx(t)); err != nil {
				t.Fatal(err)
			}
			var fail failOnce
			var runs atomic.Int32
			ids := resendAndConsume(t, &fail, s.Wrap(func(ctx context.Context, tx *sql.Tx, m *client.MessageExt) error {
				runs.Add(1)
				if _, err := tx.ExecContext(ctx, tc.insert, m.MsgID, string(m.Body)); err != nil {
					return err
				}
				if fail.now(m) {
					return errInjected // after the insert: the rollback undoes it
				}
				return nil
			}))
			rows, err := db.QueryContext(ctx(t), `SELECT msg_id, COUNT(*) FROM effects GROUP BY msg_id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			effects := make(map[string]int)
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					t.Fatal(err)
				}
				effects[id] = n
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if effects[id] != 1 {
					t.Errorf("%s: %d effect rows, want exactly 1", id, effects[id])
				}
				if done, err := s.Completed(ctx(t), id); err != nil || !done {
					t.Errorf("%s: completed %v, %v", id, done, err)
				}
			}
			if len(effects) != len(ids) {
				t.Errorf("effect rows for %d ids, want %d", len(effects), len(ids))
			}
			t.Logf("handler ran %d times", runs.Load())
		})
	}
}

// TestConsumerAppliesResentMessagesOnceRedis: a push consumer with the
// Redis store increments an external counter (a Redis key per message id,
// outside the store) once per id although each id was sent three times;
// a handler failure clears the processing mark and the redelivery runs.
func TestConsumerAppliesResentMessagesOnceRedis(t *testing.T) {
	s, rdb, prefix := redisStore(t, idempotent.RedisConfig{})
	counter := func(id string) string { return prefix + "effect:" + id }
	var fail failOnce
	ids := resendAndConsume(t, &fail, s.Wrap(func(ctx context.Context, m *client.MessageExt) error {
		if fail.now(m) {
			return errInjected // before the effect: Redis cannot undo one
		}
		return rdb.Incr(ctx, counter(m.MsgID)).Err()
	}))
	for _, id := range ids {
		n, err := rdb.Get(ctx(t), counter(id)).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: effect counter %d, want exactly 1", id, n)
		}
		if done, err := s.Done(ctx(t), id); err != nil || !done {
			t.Errorf("%s: done %v, %v", id, done, err)
		}
	}
}
