// Package testdb runs throwaway database servers for tests of the client's
// reliability kit (client/outbox, client/idempotent): a PostgreSQL server
// and a Redis server, each started once per test binary in a temporary
// directory and listening on a Unix socket only, and SQLite files in a
// test's temporary directory. No mocks: the tests talk to the real thing.
//
// When a server's binaries are not installed the tests that need it are
// skipped, unless PETREL_REQUIRE_DB is set (CI sets it and installs
// Debian's postgresql and redis-server packages), in which case they fail.
//
// A package using it calls Main from its TestMain so the servers are
// stopped when its tests end.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// RequireEnv makes missing database binaries a test failure, not a skip.
const RequireEnv = "PETREL_REQUIRE_DB"

// server is a started server process, or why it could not start.
type server struct {
	once sync.Once
	dir  string
	cmd  *exec.Cmd
	addr string // connection string (PostgreSQL) or socket path (Redis)
	skip string // binaries missing
	err  error  // failed to start
}

var (
	pg, redis server
	schemas   atomic.Int64
)

// Main runs the tests, stops the servers they started, then fails if a
// goroutine outlived the tests (goleak).
func Main(m *testing.M) {
	code := m.Run()
	stop(&pg, syscall.SIGINT) // PostgreSQL's fast shutdown
	stop(&redis, syscall.SIGTERM)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "testdb: goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func stop(s *server, sig os.Signal) {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(sig)
		s.cmd.Wait()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// ready reports s's failure to the test, or skips it.
func (s *server) ready(tb testing.TB, what string) {
	tb.Helper()
	if s.skip != "" {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("testdb: %s: %s, and %s is set", what, s.skip, RequireEnv)
		}
		tb.Skipf("testdb: %s: %s (set %s to make this a failure)", what, s.skip, RequireEnv)
	}
	if s.err != nil {
		tb.Fatalf("testdb: %s: %v", what, s.err)
	}
}

// findBinary looks in PATH, then in Debian's versioned PostgreSQL
// directories (initdb is not on PATH there).
func findBinary(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) > 0 {
		return m[len(m)-1], true
	}
	return "", false
}

// asServiceUser runs cmd as the "postgres" user when the tests run as
// root (PostgreSQL refuses to run as root), and dies with the test binary.
func asServiceUser(cmd *exec.Cmd, chownDir string) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if chownDir != "" {
		return os.Chown(chownDir, uid, gid)
	}
	return nil
}

// Postgres returns a connection pool to a fresh schema (its own
// search_path) of a PostgreSQL server started for this test binary.
func Postgres(tb testing.TB) *sql.DB {
	tb.Helper()
	pg.once.Do(startPostgres)
	pg.ready(tb, "PostgreSQL")
	admin, err := sql.Open("pgx", pg.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	schema := "t" + strconv.FormatInt(schemas.Add(1), 10)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("testdb: create schema: %v", err)
	}
	db, err := sql.Open("pgx", pg.addr+" search_path="+schema)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func startPostgres() {
	initdb, ok1 := findBinary("initdb")
	postgres, ok2 := findBinary("postgres")
	if !ok1 || !ok2 {
		pg.skip = "initdb or postgres not installed (Debian: apt-get install postgresql)"
		return
	}
	dir, err := os.MkdirTemp("", "petrel-pg-")
	if err != nil {
		pg.err = err
		return
	}
	pg.dir = dir
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "petrel", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if pg.err = asServiceUser(cmd, dir); pg.err != nil {
		return
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.err = fmt.Errorf("initdb: %w\n%s", err, out)
		return
	}
	// A Unix socket only: no port to collide with anything on the machine.
	// Durability is not under test here: fsync off keeps it fast.
	pg.cmd = exec.Command(postgres, "-D", data, "-k", dir, "-c", "listen_addresses=", "-p", "5432",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	pg.cmd.Stderr, _ = os.Create(filepath.Join(dir, "postgres.log"))
	asServiceUser(pg.cmd, "")
	if err := pg.cmd.Start(); err != nil {
		pg.err = fmt.Errorf("start postgres: %w", err)
		return
	}
	pg.addr = fmt.Sprintf("host=%s port=5432 user=petrel dbname=postgres sslmode=disable", dir)
	pg.err = waitFor(func(ctx context.Context) error {
		db, err := sql.Open("pgx", pg.addr)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
	if pg.err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		pg.err = fmt.Errorf("%w\npostgres log:\n%s", pg.err, log)
	}
}

// waitFor polls ping until it succeeds or 30 s pass (a server that
// failed to start is reported with its log by the caller).
func waitFor(ping func(context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within 30 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis returns the Unix socket path of a Redis server started for this
// test binary, and a key prefix of the test's own.
func Redis(tb testing.TB) (socket, prefix string) {
	tb.Helper()
	redis.once.Do(startRedis)
	redis.ready(tb, "Redis")
	return redis.addr, "t" + strconv.FormatInt(schemas.Add(1), 10) + ":"
}

func startRedis() {
	bin, ok := findBinary("redis-server")
	if !ok {
		redis.skip = "redis-server not installed (Debian: apt-get install redis-server)"
		return
	}
	dir, err := os.MkdirTemp("", "petrel-redis-")
	if err != nil {
		redis.err = err
		return
	}
	redis.dir = dir
	redis.addr = filepath.Join(dir, "redis.sock")
	redis.cmd = exec.Command(bin, "--port", "0", "--unixsocket", redis.addr, "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	redis.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := redis.cmd.Start(); err != nil {
		redis.err = fmt.Errorf("start redis-server: %w", err)
		return
	}
	redis.err = waitFor(func(context.Context) error {
		_, err := os.Stat(redis.addr)
		return err
	})
}

// SQLite returns a pool on a new SQLite file in the test's temporary
// directory, in WAL mode with a busy timeout so that writers from several
// connections wait for each other instead of failing.
func SQLite(tb testing.TB) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		tb.Fatal(err)
	}
	return db
}
