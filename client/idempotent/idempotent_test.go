package idempotent_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/petrel-mq/petrel/client"
	"github.com/petrel-mq/petrel/client/idempotent"
	"github.com/petrel-mq/petrel/client/outbox"
	"github.com/petrel-mq/petrel/internal/testdb"
	"github.com/petrel-mq/petrel/internal/testserver"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// delivery is one delivery of a message: the same id every time, as the
// broker redelivers it or a producer resends it under its UNIQ_KEY.
func delivery(id, orderID string) *client.MessageExt {
	return &client.MessageExt{Message: client.Message{Topic: "Orders", Body: []byte(orderID), Keys: []string{orderID}}, MsgID: id}
}

var errInjected = errors.New("injected failure")

func TestSQLStoreAppliesEffectOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		db      func(testing.TB) *sql.DB
		dialect outbox.Dialect
	}{
		{"PostgreSQL", testdb.Postgres, outbox.PostgreSQL},
		{"SQLite", testdb.SQLite, outbox.SQLite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			if _, err := db.ExecContext(ctx(t), `CREATE TABLE effects (order_id TEXT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			s, err := idempotent.NewSQLStore(db, idempotent.SQLConfig{Dialect: tc.dialect, Group: "billing"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx(t)); err != nil {
				t.Fatal(err)
			}
			var fails atomic.Int32
			fails.Store(1)
			h := s.Wrap(func(ctx context.Context, tx *sql.Tx, m *client.MessageExt) error {
				q := `INSERT INTO effects (order_id) VALUES (?)`
				if tc.dialect == outbox.PostgreSQL {
					q = `INSERT INTO effects (order_id) VALUES ($1)`
				}
				if _, err := tx.ExecContext(ctx, q, string(m.Body)); err != nil {
					return err
				}
				if fails.Add(-1) >= 0 {
					return errInjected // after writing: the rollback must undo it
				}
				return nil
			})
			m := delivery("ID-1", "order-1")
			if err := h(ctx(t), m); !errors.Is(err, errInjected) {
				t.Fatalf("first delivery: %v, want the handler's error", err)
			}
			if done, _ := s.Completed(ctx(t), "ID-1"); done {
				t.Fatal("a failed delivery was marked completed")
			}
			// Redeliveries, some at the same time.
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() { errs <- h(ctx(t), delivery("ID-1", "order-1")) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("redelivery: %v", err)
				}
			}
			var n int
			if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM effects`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%d effects, %v; want exactly 1", n, err)
			}
			if done, err := s.Completed(ctx(t), "ID-1"); err != nil || !done {
				t.Fatalf("completed %v, %v", done, err)
			}
		})
	}
}

// TestSQLStoreBusinessKey: two messages with different ids but one
// business key (an order resubmitted) apply once.
func TestSQLStoreBusinessKey(t *testing.T) {
	db := testdb.SQLite(t)
	s, _ := idempotent.NewSQLStore(db, idempotent.SQLConfig{Dialect: outbox.SQLite,
		Key: func(m *client.MessageExt) string { return m.Keys[0] }})
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	h := s.Wrap(func(context.Context, *sql.Tx, *client.MessageExt) error { runs.Add(1); return nil })
	for _, id := range []string{"ID-1", "ID-2"} {
		if err := h(ctx(t), delivery(id, "order-7")); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times for one business key", runs.Load())
	}
}

func redisStore(t *testing.T, cfg idempotent.RedisConfig) (*idempotent.RedisStore, *redis.Client, string) {
	t.Helper()
	sock, prefix := testdb.Redis(t)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	t.Cleanup(func() { rdb.Close() })
	cfg.Prefix = prefix
	return idempotent.NewRedisStore(rdb, cfg), rdb, prefix
}

func TestRedisStoreAppliesEffectOnce(t *testing.T) {
	s, _, _ := redisStore(t, idempotent.RedisConfig{})
	var effects, fails atomic.Int32
	fails.Store(1)
	h := s.Wrap(func(context.Context, *client.MessageExt) error {
		if fails.Add(-1) >= 0 {
			return errInjected
		}
		effects.Add(1)
		return nil
	})
	if err := h(ctx(t), delivery("ID-1", "order-1")); !errors.Is(err, errInjected) {
		t.Fatalf("first delivery: %v", err)
	}
	// The failure removed the mark: the redelivery runs, later ones skip.
	for range 3 {
		if err := h(ctx(t), delivery("ID-1", "order-1")); err != nil {
			t.Fatal(err)
		}
	}
	if effects.Load() != 1 {
		t.Fatalf("%d effects, want 1", effects.Load())
	}
	if done, err := s.Done(ctx(t), "ID-1"); err != nil || !done {
		t.Fatalf("done %v, %v", done, err)
	}
}

// TestRedisStoreConcurrentDuplicate: while one consumer processes a key, a
// duplicate delivery elsewhere is told to retry later, not run.
func TestRedisStoreConcurrentDuplicate(t *testing.T) {
	s, _, _ := redisStore(t, idempotent.RedisConfig{})
	entered, release := make(chan struct{}), make(chan struct{})
	var effects atomic.Int32
	h := s.Wrap(func(context.Context, *client.MessageExt) error {
		effects.Add(1)
		if effects.Load() == 1 {
			close(entered)
			<-release
		}
		return nil
	})
	first := make(chan error, 1)
	go func() { first <- h(ctx(t), delivery("ID-1", "order-1")) }()
	<-entered
	if err := h(ctx(t), delivery("ID-1", "order-1")); !errors.Is(err, idempotent.ErrInProgress) {
		t.Fatalf("duplicate during processing: %v, want ErrInProgress", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := h(ctx(t), delivery("ID-1", "order-1")); err != nil || effects.Load() != 1 {
		t.Fatalf("after completion: %v, %d effects", err, effects.Load())
	}
}

// TestRedisStoreCrashMidProcessing: a consumer that died mid-processing
// left its processing mark (set here as it would have left it: a dead
// process runs no failure path); once the mark expires the message runs.
func TestRedisStoreCrashMidProcessing(t *testing.T) {
	s, rdb, prefix := redisStore(t, idempotent.RedisConfig{ProcessingTTL: 100 * time.Millisecond})
	if err := rdb.Set(ctx(t), prefix+"ID-1", "processing:dead-consumer", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	var effects atomic.Int32
	h := s.Wrap(func(context.Context, *client.MessageExt) error { effects.Add(1); return nil })
	if err := h(ctx(t), delivery("ID-1", "order-1")); !errors.Is(err, idempotent.ErrInProgress) {
		t.Fatalf("delivery during the dead consumer's mark: %v, want ErrInProgress", err)
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return h(ctx(t), delivery("ID-1", "order-1")) == nil })
	if effects.Load() != 1 {
		t.Fatalf("%d effects, want 1", effects.Load())
	}
}
