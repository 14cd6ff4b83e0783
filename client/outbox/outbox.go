// Package outbox is a local message table (the transactional outbox) for
// petrel's Go client: "commit my order row" and "publish OrderCreated"
// cannot disagree, because the message is written into a table of the
// application's own database inside the same transaction as the business
// rows (Enqueue), and a Relay sends the committed rows afterwards.
//
// Guarantees:
//
//   - A transaction that rolls back publishes nothing; one that commits is
//     published at least once, however often relays crash.
//   - Every message gets its id (UNIQ_KEY) at enqueue time, so a resend
//     after a crash carries the same id and consumers deduplicate by it
//     (client/idempotent).
//   - Several relays may run against one table: a row is claimed with a
//     lease (locked_until) before it is sent, so no row is sent by two
//     relays at the same time unless a lease expired. PostgreSQL claims
//     with FOR UPDATE SKIP LOCKED, so relays skip each other's rows
//     instead of waiting; SQLite has one writer at a time, which makes the
//     claiming UPDATE atomic on its own.
//   - Rows with the same sharding key (Message.ShardingKey) are sent in
//     enqueue order: a row is not claimed while an earlier row of its key
//     is unsent, failed ones included. Rows without a key have no order.
//   - A failed send is retried with exponential back-off; the row records
//     its attempts and last error.
//
// The table (Migrate creates it; default name petrel_outbox):
//
//	id               serial primary key: enqueue order
//	msg_id           the message's UNIQ_KEY (unique)
//	topic            for operators; the message has it too
//	sharding_key     '' when none
//	message          JSON of the client.Message, ID included
//	created_at       unix ms
//	next_attempt_at  unix ms; back-off after failures
//	attempts         sends tried
//	last_error       the last failure, for operators
//	locked_until     unix ms; a relay's lease on the row
//	locked_by        the relay holding the lease
//	sent_at          unix ms; NULL while pending
//
// Times are the relays' clocks: keep them in step (NTP) and leases much
// longer than the producer's SendTimeout.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-mq/petrel/client"
)

// Dialect is the SQL flavour of the database holding the table.
type Dialect int

// Supported databases.
const (
	// PostgreSQL through database/sql (github.com/jackc/pgx/v5/stdlib).
	PostgreSQL Dialect = iota + 1
	// SQLite 3.35 or later (modernc.org/sqlite), for one-process apps.
	SQLite
)

// DefaultTable is the table name when Options.Table is empty.
const DefaultTable = "petrel_outbox"

// Options configures an Outbox.
type Options struct {
	// Dialect of the database (required).
	Dialect Dialect
	// Table is the table's name, optionally schema-qualified; empty means
	// DefaultTable.
	Table string
}

// Outbox is one outbox table. It is safe for concurrent use.
type Outbox struct {
	db      *sql.DB
	dialect Dialect
	table   string
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// New returns the outbox table in db. It does not touch the database; run
// Migrate once to create the table.
func New(db *sql.DB, opts Options) (*Outbox, error) {
	if opts.Dialect != PostgreSQL && opts.Dialect != SQLite {
		return nil, fmt.Errorf("outbox: unknown dialect %d", opts.Dialect)
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	// The name is pasted into statements: it cannot be a parameter.
	if !tableName.MatchString(opts.Table) {
		return nil, fmt.Errorf("outbox: table name %q is not a plain identifier", opts.Table)
	}
	return &Outbox{db: db, dialect: opts.Dialect, table: opts.Table}, nil
}

// Migrate creates the table and its indexes if they do not exist.
func (o *Outbox) Migrate(ctx context.Context) error {
	idCol, blob := "BIGSERIAL PRIMARY KEY", "BYTEA"
	if o.dialect == SQLite {
		idCol, blob = "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	}
	// An index lives in its table's schema; its name is not qualified.
	index := o.table[strings.LastIndex(o.table, ".")+1:]
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + o.table + ` (
			id ` + idCol + `,
			msg_id TEXT NOT NULL UNIQUE,
			topic TEXT NOT NULL,
			sharding_key TEXT NOT NULL DEFAULT '',
			message ` + blob + ` NOT NULL,
			created_at BIGINT NOT NULL,
			next_attempt_at BIGINT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_error TEXT,
			locked_until BIGINT NOT NULL DEFAULT 0,
			locked_by TEXT,
			sent_at BIGINT
		)`,
		// Relays scan only pending rows; sent ones may pile up until purged.
		`CREATE INDEX IF NOT EXISTS ` + index + `_pending ON ` + o.table + ` (id) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS ` + index + `_key_pending ON ` + o.table + ` (sharding_key, id) WHERE sent_at IS NULL`,
	}
	for _, s := range stmts {
		if _, err := o.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
		}
	}
	return nil
}

// Enqueue writes msg into the outbox inside tx, the caller's transaction:
// it is published if and only if tx commits. msg.ID is set to a new id
// unless the caller set one; the id is returned and is the UNIQ_KEY every
// send of the row carries. msg is not sent here, so its validity beyond
// topic and body is checked when a relay sends it.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, msg *client.Message) (string, error) {
	if msg == nil || msg.Topic == "" || len(msg.Body) == 0 {
		return "", errors.New("outbox: a message needs a topic and a body")
	}
	m := *msg
	if m.ID == "" {
		m.ID = client.NewMessageID()
	}
	payload, err := json.Marshal(&m)
	if err != nil {
		return "", fmt.Errorf("outbox: encode: %w", err)
	}
	now := time.Now().UnixMilli()
	_, err = tx.ExecContext(ctx, o.rebind(`INSERT INTO `+o.table+
		` (msg_id, topic, sharding_key, message, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)`),
		m.ID, m.Topic, m.ShardingKey, payload, now, now)
	if err != nil {
		return "", fmt.Errorf("outbox: enqueue %s: %w", m.ID, err)
	}
	msg.ID = m.ID
	return m.ID, nil
}

// Stats is what a monitor wants to know about the table.
type Stats struct {
	// Pending is how many rows are not sent yet (failed ones included).
	Pending int64
	// Failing is how many pending rows failed at least once.
	Failing int64
	// OldestPendingAge is the age of the oldest pending row; zero when
	// none is pending. Growing means the relays are stuck or absent.
	OldestPendingAge time.Duration
}

// Stats counts the pending rows and measures the oldest.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	var oldest sql.NullInt64
	err := o.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), MIN(created_at) FROM `+
		o.table+` WHERE sent_at IS NULL`).Scan(&st.Pending, &st.Failing, &oldest)
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	if oldest.Valid {
		st.OldestPendingAge = max(time.Since(time.UnixMilli(oldest.Int64)), 0)
	}
	return st, nil
}

// PurgeSent deletes rows sent before t (kept for audit until then);
// it returns how many.
func (o *Outbox) PurgeSent(ctx context.Context, before time.Time) (int64, error) {
	res, err := o.db.ExecContext(ctx, o.rebind(`DELETE FROM `+o.table+` WHERE sent_at IS NOT NULL AND sent_at < ?`), before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("outbox: purge: %w", err)
	}
	return res.RowsAffected()
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (o *Outbox) rebind(q string) string {
	if o.dialect != PostgreSQL {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
