package outbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/petrel-mq/petrel/client"
)

// Sender sends messages synchronously; *client.Producer is one. The relay
// needs nothing else from a producer.
type Sender interface {
	Send(ctx context.Context, msgs ...*client.Message) (*client.SendResult, error)
}

// Defaults of RelayConfig fields left zero.
const (
	DefaultBatchSize    = 100
	DefaultPollInterval = time.Second
	DefaultLease        = 30 * time.Second
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = 5 * time.Minute
)

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Sender sends the rows (required): a *client.Producer, best without
	// a spool (the table already is one). A spooled result counts as sent:
	// the spool delivers it under the same id.
	Sender Sender
	// ID names this relay in locked_by; empty means host-pid-random.
	ID string
	// BatchSize is how many rows one claim takes at most; zero means 100.
	BatchSize int
	// PollInterval is how long Run waits when it found nothing to send;
	// zero means 1 s. Wake shortens it.
	PollInterval time.Duration
	// Lease is how long a claimed batch is reserved for this relay: a
	// relay that dies mid-batch delays its rows by this much, and a batch
	// that takes longer to send may be taken over and sent twice (same
	// ids). Keep it above BatchSize × the producer's SendTimeout, or lower
	// BatchSize; zero means 30 s.
	Lease time.Duration
	// RetryBase and RetryMax shape the back-off after a failed send:
	// RetryBase·2^(attempts-1), at most RetryMax. Zero means 1 s and 5 min.
	RetryBase, RetryMax time.Duration
	// DeleteSent deletes a row once sent instead of stamping sent_at.
	DeleteSent bool
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Relay sends an outbox's committed rows. Run it in a goroutine of its
// own (or call RelayOnce from a scheduler); any number of relays may work
// on one table.
type Relay struct {
	o    *Outbox
	cfg  RelayConfig
	log  *slog.Logger
	wake chan struct{}
}

// NewRelay returns a relay of o's rows.
func (o *Outbox) NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.Sender == nil {
		return nil, errors.New("outbox: RelayConfig.Sender is nil")
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		var r [4]byte
		rand.Read(r[:])
		cfg.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(r[:]))
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Relay{o: o, cfg: cfg, log: cfg.Logger.With("outbox", o.table, "relay", cfg.ID), wake: make(chan struct{}, 1)}, nil
}

// Wake makes a waiting Run look for rows now, e.g. right after the
// transaction that enqueued them committed.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays rows until ctx ends, then returns ctx's error. Database
// errors are logged and retried after PollInterval.
func (r *Relay) Run(ctx context.Context) error {
	for {
		n, err := r.RelayOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.log.Warn("outbox: relay round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be waiting
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-r.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// row is a claimed row.
type row struct {
	id       int64
	msgID    string
	payload  []byte
	attempts int
}

// RelayOnce claims up to BatchSize rows that are due, sends them one by
// one in enqueue order and records each outcome. It returns how many rows
// it claimed. If ctx ends mid-batch, the rows not finished keep their
// lease and are taken up again when it expires, as after a crash.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	rows, err := r.claim(ctx)
	if err != nil {
		return 0, err
	}
	for _, rw := range rows {
		if ctx.Err() != nil {
			return len(rows), nil
		}
		var msg client.Message
		var res *client.SendResult
		err := json.Unmarshal(rw.payload, &msg)
		if err == nil {
			res, err = r.cfg.Sender.Send(ctx, &msg)
		}
		if ctx.Err() != nil {
			// Stopped or killed: the broker may or may not have the
			// message; the lease decides who sends it again.
			return len(rows), nil
		}
		if err != nil {
			if ferr := r.failed(ctx, rw, err); ferr != nil {
				return len(rows), ferr
			}
			continue
		}
		if err := r.sent(ctx, rw); err != nil {
			// Sent but not recorded: it will be sent again, same id.
			return len(rows), err
		}
		r.log.Debug("outbox: sent", "msgId", rw.msgID, "status", res.Status)
	}
	return len(rows), nil
}

// claim leases the due rows that are first of their sharding key. One
// UPDATE ... RETURNING is atomic: PostgreSQL's row locks (skipping rows
// another relay is claiming) or SQLite's single writer make two relays'
// claims disjoint.
func (r *Relay) claim(ctx context.Context) ([]row, error) {
	now := time.Now().UnixMilli()
	lock := ""
	if r.o.dialect == PostgreSQL {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	t := r.o.table
	q := `UPDATE ` + t + ` SET locked_until = ?, locked_by = ? WHERE id IN (
		SELECT o.id FROM ` + t + ` o
		WHERE o.sent_at IS NULL AND o.next_attempt_at <= ? AND o.locked_until <= ?
		AND (o.sharding_key = '' OR NOT EXISTS (
			SELECT 1 FROM ` + t + ` e WHERE e.sharding_key = o.sharding_key AND e.sent_at IS NULL AND e.id < o.id))
		ORDER BY o.id LIMIT ?` + lock + `)
		RETURNING id, msg_id, message, attempts`
	res, err := r.o.db.QueryContext(ctx, r.o.rebind(q), now+r.cfg.Lease.Milliseconds(), r.cfg.ID, now, now, r.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	defer res.Close()
	var rows []row
	for res.Next() {
		var rw row
		if err := res.Scan(&rw.id, &rw.msgID, &rw.payload, &rw.attempts); err != nil {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		rows = append(rows, rw)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	// RETURNING does not promise an order.
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	return rows, nil
}

// sent records a delivery. It does not check the lease: the message was
// sent either way, and a relay that took the row over meanwhile sends a
// duplicate under the same id, which is all at-least-once promises.
func (r *Relay) sent(ctx context.Context, rw row) error {
	q := `UPDATE ` + r.o.table + ` SET sent_at = ?, attempts = attempts + 1, locked_until = 0 WHERE id = ?`
	args := []any{time.Now().UnixMilli(), rw.id}
	if r.cfg.DeleteSent {
		q, args = `DELETE FROM `+r.o.table+` WHERE id = ?`, []any{rw.id}
	}
	if _, err := r.o.db.ExecContext(ctx, r.o.rebind(q), args...); err != nil {
		return fmt.Errorf("outbox: record %s as sent: %w", rw.msgID, err)
	}
	return nil
}

// failed records a failed attempt and when to try again; the lease ends.
func (r *Relay) failed(ctx context.Context, rw row, sendErr error) error {
	attempts := rw.attempts + 1
	wait := r.backoff(attempts)
	r.log.Warn("outbox: send failed; will retry", "msgId", rw.msgID, "attempts", attempts, "retryIn", wait, "err", sendErr)
	q := `UPDATE ` + r.o.table + ` SET attempts = ?, last_error = ?, next_attempt_at = ?, locked_until = 0 WHERE id = ?`
	_, err := r.o.db.ExecContext(ctx, r.o.rebind(q), attempts, truncate(sendErr.Error(), 2000), time.Now().Add(wait).UnixMilli(), rw.id)
	if err != nil {
		return fmt.Errorf("outbox: record a failure of %s: %w", rw.msgID, err)
	}
	return nil
}

func (r *Relay) backoff(attempts int) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < attempts && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.RetryMax)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RowState is the relay-visible state of one row, for operators and tests.
type RowState struct {
	MsgID     string
	Attempts  int
	LastError string
	Sent      bool
}

// Row returns the state of the row of msgID; sql.ErrNoRows when there is
// none (never enqueued, rolled back, or deleted after sending).
func (o *Outbox) Row(ctx context.Context, msgID string) (RowState, error) {
	var st RowState
	var lastErr sql.NullString
	var sentAt sql.NullInt64
	err := o.db.QueryRowContext(ctx, o.rebind(`SELECT msg_id, attempts, last_error, sent_at FROM `+o.table+` WHERE msg_id = ?`), msgID).
		Scan(&st.MsgID, &st.Attempts, &lastErr, &sentAt)
	if err != nil {
		return RowState{}, fmt.Errorf("outbox: row %s: %w", msgID, err)
	}
	st.LastError, st.Sent = lastErr.String, sentAt.Valid
	return st, nil
}
