package store

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

const killChildEnv = "PETREL_STORE_KILL_CHILD"

func killCfg(dir string, mode FlushDiskType) Config {
	return Config{
		Dir:                  dir,
		CommitLogSegmentSize: 1 << 20,
		ConsumeQueueEntries:  1024,
		IndexHashSlots:       1024,
		IndexMaxEntries:      4096,
		MaxRecordSize:        64 << 10,
		FlushDiskType:        mode,
		StoreHost:            testStoreHost,
		FS:                   vfs.Default,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestKillChild is the child process of TestKill9: it appends until killed
// and prints every acknowledgement.
func TestKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("runs only as TestKill9's child")
	}
	mode, dir, _ := strings.Cut(spec, ":")
	m := AsyncFlush
	if mode == "SYNC_FLUSH" {
		m = SyncFlush
	}
	s, err := Open(killCfg(dir, m))
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("k", i%900))
				r, err := s.Put(newMsg("K", int32(w%4), body))
				if err != nil || r.Status != PutOK {
					fmt.Println("put failed:", err, r.Status)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %d %s\n", w%4, r.QueueOffset, r.PhysOffset, body)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

// TestKill9 kills a process that is appending (SIGKILL, no chance to
// flush or close) and checks that every message it acknowledged is there.
// A killed process leaves the page cache intact, so this holds for
// ASYNC_FLUSH too.
func TestKill9(t *testing.T) {
	if os.Getenv(killChildEnv) != "" {
		t.Skip("child")
	}
	for _, mode := range []FlushDiskType{SyncFlush, AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			type acked struct {
				queue int32
				qo    int64
				phys  int64
				body  string
			}
			var acks []acked
			for round := 0; round < 3; round++ { // kill, recover, append more, kill again
				cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), killChildEnv+"="+mode.String()+":"+dir)
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(stdout)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				target := 2000 + round*500
				n := 0
				for n < target && sc.Scan() {
					line := sc.Text()
					f := strings.SplitN(line, " ", 5)
					if len(f) != 5 || f[0] != "ack" {
						t.Fatalf("child: %s", line)
					}
					q, _ := strconv.Atoi(f[1])
					qo, _ := strconv.ParseInt(f[2], 10, 64)
					phys, _ := strconv.ParseInt(f[3], 10, 64)
					acks = append(acks, acked{int32(q), qo, phys, f[4]})
					n++
				}
				if n < target {
					t.Fatalf("child stopped after %d acks: %v", n, sc.Err())
				}
				cmd.Process.Kill()
				cmd.Wait()

				s, err := Open(killCfg(dir, mode))
				if err != nil {
					t.Fatalf("reopen after kill -9: %v", err)
				}
				for _, a := range acks {
					res := s.GetMessages("K", a.queue, a.qo, 1, 1<<20, nil, nil)
					if res.Status != Found {
						t.Fatalf("round %d: acknowledged K/%d offset %d lost: %v", round, a.queue, a.qo, res.Status)
					}
					m := decodeAll(t, res.Buffer)[0]
					if string(m.Body) != a.body || m.PhysicalOffset != a.phys {
						t.Fatalf("K/%d offset %d: holds %.20q at %d, acknowledged %.20q at %d", a.queue, a.qo, m.Body, m.PhysicalOffset, a.body, a.phys)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
