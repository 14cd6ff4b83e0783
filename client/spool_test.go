package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/testserver"
)

// switchedProxy forwards TCP connections to target while it is up; while
// it is down nothing listens on its address, so dials are refused, as
// for a name server that is down.
type switchedProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newSwitchedProxy(t *testing.T, target string) *switchedProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	px := &switchedProxy{t: t, addr: addr, target: target, conns: make(map[net.Conn]bool)}
	t.Cleanup(px.down)
	return px
}

func (px *switchedProxy) up() {
	ln, err := net.Listen("tcp", px.addr)
	if err != nil {
		px.t.Fatal(err)
	}
	px.mu.Lock()
	px.ln = ln
	px.mu.Unlock()
	px.wg.Add(1)
	go func() {
		defer px.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", px.target)
			if err != nil {
				c.Close()
				continue
			}
			px.mu.Lock()
			px.conns[c], px.conns[u] = true, true
			px.mu.Unlock()
			px.wg.Add(2)
			go func() { defer px.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer px.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
}

// down stops listening and cuts every forwarded connection.
func (px *switchedProxy) down() {
	px.mu.Lock()
	if px.ln != nil {
		px.ln.Close()
		px.ln = nil
	}
	for c := range px.conns {
		c.Close()
	}
	clear(px.conns)
	px.mu.Unlock()
	px.wg.Wait()
}

func spoolProducer(t *testing.T, nameServer, dir string, maxBytes int64) *Producer {
	t.Helper()
	p, err := NewProducer(ProducerConfig{
		Config:      Config{NameServers: []string{nameServer}, InstanceName: t.Name(), Logger: quietLogger()},
		Group:       "spool",
		SendTimeout: 2 * time.Second,
		Spool:       &SpoolConfig{Dir: dir, MaxBytes: maxBytes, RetryInterval: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestSpoolKeepsSendingThroughOutageAndRestart: with the name server down,
// sends are spooled; the application restarts (a new producer on the same
// directory) and keeps sending into the spool; when the name server is
// back, every message is delivered once, in order, under its first id.
func TestSpoolKeepsSendingThroughOutageAndRestart(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Spooled", 1)
	px := newSwitchedProxy(t, c.NamesrvAddr)
	dir := t.TempDir()

	var ids []string
	send := func(p *Producer, i int) {
		t.Helper()
		res, err := p.Send(testCtx(t), &Message{Topic: "Spooled", Body: []byte("m" + strconv.Itoa(i)), Keys: []string{"k" + strconv.Itoa(i)}})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if res.Status != SendSpooled || !uniqKeyLayout.MatchString(res.MsgID) {
			t.Fatalf("send %d: %+v, want SPOOLED with an id", i, res)
		}
		ids = append(ids, res.MsgID)
	}
	p1 := spoolProducer(t, px.addr, dir, 0)
	for i := range 3 {
		send(p1, i)
	}
	if n, b := p1.SpoolStats(); n != 3 || b == 0 {
		t.Fatalf("spool stats %d sends, %d bytes; want 3", n, b)
	}
	p1.Close()

	p2 := spoolProducer(t, px.addr, dir, 0)
	if n, _ := p2.SpoolStats(); n != 3 {
		t.Fatalf("reopened spool holds %d sends, want 3", n)
	}
	for i := 3; i < 6; i++ {
		send(p2, i)
	}
	px.up()
	testserver.Eventually(t, 10*time.Second, func() bool { n, _ := p2.SpoolStats(); return n == 0 })
	if _, b := p2.SpoolStats(); b != 0 {
		t.Fatalf("drained spool still holds %d bytes", b)
	}
	got := c.AllMessages("Spooled")
	if len(got) != len(ids) {
		t.Fatalf("%d messages stored, want %d", len(got), len(ids))
	}
	for i, m := range got {
		if string(m.Body) != "m"+strconv.Itoa(i) || m.Properties["UNIQ_KEY"] != ids[i] || m.Properties["KEYS"] != "k"+strconv.Itoa(i) {
			t.Fatalf("message %d: body %q, props %v; want m%d with UNIQ_KEY %s", i, m.Body, m.Properties, i, ids[i])
		}
	}
	// With the spool empty, sends go to the broker again.
	res, err := p2.Send(testCtx(t), NewMessage("Spooled", []byte("direct")))
	if err != nil || res.Status != SendOK {
		t.Fatalf("send after draining: %+v, %v", res, err)
	}
}

// TestSpoolBrokerStopped: a producer that has a route keeps working when
// the broker goes away: its sends are spooled, not failed.
func TestSpoolBrokerStopped(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("Spooled", 1)
	p := spoolProducer(t, c.NamesrvAddr, t.TempDir(), 0)
	if res, err := p.Send(testCtx(t), NewMessage("Spooled", []byte("before"))); err != nil || res.Status != SendOK {
		t.Fatalf("%+v, %v", res, err)
	}
	c.StopBroker(c.Brokers[0])
	res, err := p.Send(testCtx(t), NewMessage("Spooled", []byte("during")))
	if err != nil || res.Status != SendSpooled {
		t.Fatalf("send with the broker stopped: %+v, %v", res, err)
	}
	if n, _ := p.SpoolStats(); n != 1 {
		t.Fatalf("spool holds %d sends, want 1", n)
	}
}

// TestSpoolRefusalIsNotSpooled: a broker that answers with a refusal is
// reached; the error goes to the caller and the spool stays empty.
func TestSpoolRefusalIsNotSpooled(t *testing.T) {
	fc := startFakeCluster(t, &fakeBroker{name: "b0", answer: refuse(protocol.MessageIllegal, "bad")})
	p := fakeProducer(t, fc, func(cfg *ProducerConfig) { cfg.Spool = &SpoolConfig{Dir: t.TempDir()} })
	_, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
	if !errors.Is(err, ErrMessageIllegal) {
		t.Fatalf("err %v, want MESSAGE_ILLEGAL", err)
	}
	if n, _ := p.SpoolStats(); n != 0 {
		t.Fatalf("spool holds %d sends after a refusal", n)
	}
}

// TestSpoolFullRefuses: a full spool fails the send with ErrSpoolFull and
// keeps what it holds.
func TestSpoolFullRefuses(t *testing.T) {
	px := newSwitchedProxy(t, "127.0.0.1:1")
	p := spoolProducer(t, px.addr, t.TempDir(), 1000)
	body := bytes.Repeat([]byte("x"), 200)
	accepted := 0
	for {
		res, err := p.Send(testCtx(t), NewMessage("Spooled", body))
		if err != nil {
			if !errors.Is(err, ErrSpoolFull) {
				t.Fatalf("err %v, want ErrSpoolFull", err)
			}
			break
		}
		if res.Status != SendSpooled {
			t.Fatalf("%+v", res)
		}
		accepted++
		if accepted > 10 {
			t.Fatal("a 1000-byte spool took more than 10 sends of 200 bytes")
		}
	}
	if n, b := p.SpoolStats(); n != accepted || accepted == 0 || b > 1000 {
		t.Fatalf("spool holds %d sends in %d bytes; %d were accepted", n, b, accepted)
	}
}

// TestSpoolDirectoryLocked: one producer per spool directory.
func TestSpoolDirectoryLocked(t *testing.T) {
	dir := t.TempDir()
	spoolProducer(t, "127.0.0.1:1", dir, 0)
	_, err := NewProducer(ProducerConfig{
		Config: Config{NameServers: []string{"127.0.0.1:1"}, InstanceName: t.Name() + "2", Logger: quietLogger()},
		Spool:  &SpoolConfig{Dir: dir},
	})
	if !errors.Is(err, ErrSpoolLocked) {
		t.Fatalf("err %v, want ErrSpoolLocked", err)
	}
}

func openTestSpool(t *testing.T, dir string) *diskSpool {
	t.Helper()
	s, err := openSpool(dir, 1<<20, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func appendN(t *testing.T, s *diskSpool, from, n, size int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.append(recordPayload(i, size)); err != nil {
			t.Fatal(err)
		}
	}
}

func recordPayload(i, size int) []byte {
	b := bytes.Repeat([]byte{'.'}, size)
	copy(b, fmt.Sprintf("record %d", i))
	return b
}

// drainAll reads and acknowledges every record, checking they are
// records from..to-1 in order.
func drainAll(t *testing.T, s *diskSpool, from, to, size int) {
	t.Helper()
	for i := from; i < to; i++ {
		got, err := s.peek()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, recordPayload(i, size)) {
			t.Fatalf("record %d: got %.20q", i, got)
		}
		if err := s.ack(len(got)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.peek(); got != nil || err != nil {
		t.Fatalf("after record %d: %.20q, %v; want the end", to-1, got, err)
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+spoolSegmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpoolReopenAfterCrash: what was acknowledged stays delivered and
// what was not is read again after the files are closed without any
// shutdown step (a crash), across segment boundaries.
func TestSpoolReopenAfterCrash(t *testing.T) {
	dir := t.TempDir()
	const size = 60 << 10 // 128 KiB segments: two records each
	s := openTestSpool(t, dir)
	appendN(t, s, 0, 7, size)
	if n := len(segmentFiles(t, dir)); n != 4 {
		t.Fatalf("%d segments for 7 records of 60 KiB, want 4", n)
	}
	for i := range 3 {
		got, _ := s.peek()
		if !bytes.Equal(got, recordPayload(i, size)) {
			t.Fatalf("record %d: %.20q", i, got)
		}
		if err := s.ack(len(got)); err != nil {
			t.Fatal(err)
		}
	}
	s.close() // a crash writes nothing more either

	s = openTestSpool(t, dir)
	if n, _ := s.stats(); n != 4 {
		t.Fatalf("reopened spool holds %d records, want 4", n)
	}
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments after delivering the first, want 3", n)
	}
	appendN(t, s, 7, 1, size)
	drainAll(t, s, 3, 8, size)
	if n, b := s.stats(); n != 0 || b != 0 {
		t.Fatalf("drained spool: %d records, %d bytes", n, b)
	}
}

// TestSpoolTornTail: a partial or damaged last record (a crash during an
// append that never returned) is cut at open; the records before it and
// appends after it are kept.
func TestSpoolTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"partial header", func(t *testing.T, path string, _ int64) { appendBytes(t, path, []byte{0, 0, 1}) }},
		{"partial payload", func(t *testing.T, path string, _ int64) {
			appendBytes(t, path, []byte{0, 0, 0, 100, 1, 2, 3, 4, 'a', 'b'})
		}},
		{"bad CRC", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{'!'}, size-1); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestSpool(t, dir)
			appendN(t, s, 0, 3, 50)
			s.close()
			segs := segmentFiles(t, dir)
			st, err := os.Stat(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, segs[0], st.Size())
			kept := 3
			if tc.name == "bad CRC" {
				kept = 2 // the damaged last record is the torn one
			}
			s = openTestSpool(t, dir)
			if n, _ := s.stats(); n != kept {
				t.Fatalf("%d records after the cut, want %d", n, kept)
			}
			appendN(t, s, kept, 1, 50)
			drainAll(t, s, 0, kept+1, 50)
		})
	}
}

// TestSpoolCorruptionIsNotCut: damage before the last segment's tail is
// not a torn write, and opening refuses instead of skipping records.
func TestSpoolCorruptionIsNotCut(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir)
	appendN(t, s, 0, 4, 60<<10)
	s.close()
	segs := segmentFiles(t, dir)
	f, err := os.OpenFile(segs[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("!"), 100)
	f.Close()
	if _, err := openSpool(dir, 1<<20, quietLogger()); !errors.Is(err, ErrSpoolCorrupt) {
		t.Fatalf("err %v, want ErrSpoolCorrupt", err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolSendAsync: SendAsync spools like Send. With the name server
// down its callback gets SendSpooled; once something is spooled, later
// async sends go behind it; when the name server is back everything is
// delivered in order under the ids the callbacks reported.
func TestSpoolSendAsync(t *testing.T) {
	c := testserver.Start(t, testserver.Options{})
	c.CreateTopic("SpooledAsync", 1)
	px := newSwitchedProxy(t, c.NamesrvAddr)
	p := spoolProducer(t, px.addr, t.TempDir(), 0)
	var ids []string
	for i := range 4 {
		done := make(chan *SendResult, 1)
		err := p.SendAsync(testCtx(t), NewMessage("SpooledAsync", []byte("a"+strconv.Itoa(i))), func(res *SendResult, err error) {
			if err != nil {
				t.Errorf("async send %d: %v", i, err)
			}
			done <- res
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-done:
			if res == nil || res.Status != SendSpooled || !uniqKeyLayout.MatchString(res.MsgID) {
				t.Fatalf("async send %d: %+v, want SPOOLED with an id", i, res)
			}
			ids = append(ids, res.MsgID)
		case <-time.After(20 * time.Second):
			t.Fatalf("async send %d: no callback", i)
		}
	}
	if n, _ := p.SpoolStats(); n != 4 {
		t.Fatalf("spool holds %d sends, want 4", n)
	}
	px.up()
	testserver.Eventually(t, 10*time.Second, func() bool { n, _ := p.SpoolStats(); return n == 0 })
	got := c.AllMessages("SpooledAsync")
	if len(got) != len(ids) {
		t.Fatalf("%d messages stored, want %d", len(got), len(ids))
	}
	for i, m := range got {
		if string(m.Body) != "a"+strconv.Itoa(i) || m.Properties["UNIQ_KEY"] != ids[i] {
			t.Fatalf("message %d: %q %s, want a%d with UNIQ_KEY %s", i, m.Body, m.Properties["UNIQ_KEY"], i, ids[i])
		}
	}
}
