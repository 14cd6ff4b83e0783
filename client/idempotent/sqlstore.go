package idempotent

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"

	"github.com/petrel-mq/petrel/client"
	"github.com/petrel-mq/petrel/client/outbox"
)

// DefaultTable is SQLStore's table when SQLConfig.Table is empty.
const DefaultTable = "petrel_consumed"

// TxHandler handles one message inside tx; whatever it writes through tx
// commits together with the message's completion mark.
type TxHandler func(ctx context.Context, tx *sql.Tx, m *client.MessageExt) error

// SQLConfig configures an SQLStore.
type SQLConfig struct {
	// Dialect of the database (required): outbox.PostgreSQL or
	// outbox.SQLite.
	Dialect outbox.Dialect
	// Table holds the completion marks; empty means DefaultTable.
	Table string
	// Group namespaces the keys, so consumer groups that each apply a
	// message share the table; usually the consumer group.
	Group string
	// Key picks the dedup key; nil means the message id.
	Key KeyFunc
	// TxOptions are used to begin each handler's transaction.
	TxOptions *sql.TxOptions
}

// SQLStore records completed keys in a database table.
type SQLStore struct {
	db  *sql.DB
	cfg SQLConfig
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// NewSQLStore returns a store on db; Migrate creates its table.
func NewSQLStore(db *sql.DB, cfg SQLConfig) (*SQLStore, error) {
	if cfg.Dialect != outbox.PostgreSQL && cfg.Dialect != outbox.SQLite {
		return nil, fmt.Errorf("idempotent: unknown dialect %d", cfg.Dialect)
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if !tableName.MatchString(cfg.Table) {
		return nil, fmt.Errorf("idempotent: table name %q is not a plain identifier", cfg.Table)
	}
	return &SQLStore{db: db, cfg: cfg}, nil
}

// Migrate creates the table if it does not exist. Its primary key is the
// unique index that makes a second completion of a key impossible.
func (s *SQLStore) Migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.cfg.Table+` (
		group_name TEXT NOT NULL,
		dedup_key TEXT NOT NULL,
		msg_id TEXT NOT NULL,
		consumed_at BIGINT NOT NULL,
		PRIMARY KEY (group_name, dedup_key)
	)`)
	if err != nil {
		return fmt.Errorf("idempotent: migrate %s: %w", s.cfg.Table, err)
	}
	return nil
}

func (s *SQLStore) q(query string) string {
	if s.cfg.Dialect == outbox.PostgreSQL {
		return rebindDollar(query)
	}
	return query
}

// Wrap returns a handler that runs h at most once per key with effect:
// in one transaction it inserts the key's mark (waiting for a concurrent
// transaction holding the same key), skips h if the key was completed,
// runs h and commits. If h fails, the transaction rolls back and neither
// effect nor mark remain.
func (s *SQLStore) Wrap(h TxHandler) Handler {
	insert := s.q(`INSERT INTO ` + s.cfg.Table + ` (group_name, dedup_key, msg_id, consumed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_name, dedup_key) DO NOTHING`)
	return func(ctx context.Context, m *client.MessageExt) (err error) {
		key := keyOf(s.cfg.Key, m)
		tx, err := s.db.BeginTx(ctx, s.cfg.TxOptions)
		if err != nil {
			return fmt.Errorf("idempotent: begin: %w", err)
		}
		defer func() {
			if err != nil {
				tx.Rollback()
			}
		}()
		res, err := tx.ExecContext(ctx, insert, s.cfg.Group, key, m.MsgID, time.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("idempotent: mark %s: %w", key, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("idempotent: mark %s: %w", key, err)
		}
		if n == 0 {
			// Completed before: a duplicate. Nothing to commit.
			tx.Rollback()
			return nil
		}
		if err := h(ctx, tx, m); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("idempotent: commit %s: %w", key, err)
		}
		return nil
	}
}

// Completed reports whether key was completed.
func (s *SQLStore) Completed(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM `+s.cfg.Table+` WHERE group_name = ? AND dedup_key = ?`), s.cfg.Group, key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("idempotent: %w", err)
	}
	return n > 0, nil
}

// Purge deletes marks older than before: keep them longer than a message
// can be redelivered (retries, DLQ resends, producer retries).
func (s *SQLStore) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.cfg.Table+` WHERE group_name = ? AND consumed_at < ?`), s.cfg.Group, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("idempotent: purge: %w", err)
	}
	return res.RowsAffected()
}

func rebindDollar(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
