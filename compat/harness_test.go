package compat

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Markers petrel writes to stderr (the binary's contract).
const (
	startedMarker = "petrel serve started"
	stoppedMarker = "petrel stopped cleanly"
)

const (
	// readyTimeout bounds how long a start may take before it is a failure.
	readyTimeout = 30 * time.Second
	// stopTimeout is the contract's 10 s for a graceful stop plus slack for
	// a loaded 2-core machine; a stop slower than this is killed and fails.
	stopTimeout = 15 * time.Second
)

// testSets keep a test instance's files small: a 64 MiB commit-log segment
// and a small index file.
var testSets = []string{
	"mappedFileSizeCommitLog=67108864",
	"maxHashSlotNum=100000",
	"maxIndexNum=400000",
}

var (
	// petrelBinary is the binary TestMain built; buildErr why it could not.
	petrelBinary string
	buildErr     error

	// live holds every petrel process not yet reaped, so TestMain can kill
	// what a test failed to stop and report it as a leak.
	liveMu sync.Mutex
	live   = map[*petrelRun]string{}
)

// buildPetrel builds ./cmd/petrel of the parent module into dir.
func buildPetrel(dir string) (string, error) {
	bin := filepath.Join(dir, "petrel")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/petrel")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/petrel: %w\n%s", err, out)
	}
	return bin, nil
}

// Petrel is one petrel serve instance: a data directory and two ports that
// stay the same across restarts, and the process currently running on them.
type Petrel struct {
	Dir         string
	NamesrvAddr string // the embedded name server, host:port
	BrokerAddr  string // the broker's listen address, host:port
	sets        []string

	mu   sync.Mutex
	log  bytes.Buffer // stderr of every run, each run introduced by a header
	runs int
	cur  *petrelRun
}

// petrelRun is one process of an instance.
type petrelRun struct {
	cmd   *exec.Cmd
	out   *runLog
	done  chan struct{} // closed when the process has exited and stderr is drained
	err   error         // cmd.Wait's result, valid after done
	ended time.Time
}

// newPetrel picks two free loopback ports and prepares dir; it does not start.
func newPetrel(dir string, sets ...string) (*Petrel, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	return &Petrel{
		Dir:         dir,
		NamesrvAddr: ports[0],
		BrokerAddr:  ports[1],
		sets:        append(append([]string(nil), testSets...), sets...),
	}, nil
}

// freePorts listens on 127.0.0.1:0 n times and closes the listeners, so the
// ports are free now (a small race with other processes is accepted).
func freePorts(n int) ([]string, error) {
	var addrs []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// start runs a new process on the instance's data and ports and returns
// once its stderr says it started.
func (p *Petrel) start() error {
	if buildErr != nil {
		return buildErr
	}
	p.mu.Lock()
	if p.cur != nil {
		p.mu.Unlock()
		return errors.New("petrel: already running")
	}
	p.runs++
	fmt.Fprintf(&p.log, "----- petrel run %d -----\n", p.runs)
	p.mu.Unlock()

	args := []string{"serve", "--data", p.Dir, "--namesrv-listen", p.NamesrvAddr, "--broker-listen", p.BrokerAddr}
	for _, s := range p.sets {
		args = append(args, "--set", s)
	}
	if lvl := os.Getenv("PETREL_LOG_LEVEL"); lvl != "" {
		args = append(args, "--log-level", lvl)
	}
	r := &petrelRun{cmd: exec.Command(petrelBinary, args...), out: newRunLog(p), done: make(chan struct{})}
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start petrel: %w", err)
	}
	liveMu.Lock()
	live[r] = p.Dir
	liveMu.Unlock()
	go func() {
		r.err = r.cmd.Wait() // returns after the stderr copy finished
		r.ended = time.Now()
		r.out.flush()
		liveMu.Lock()
		delete(live, r)
		liveMu.Unlock()
		close(r.done)
	}()
	p.mu.Lock()
	p.cur = r
	p.mu.Unlock()

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-r.out.ready:
		return nil
	case <-r.done:
		p.clearCurrent(r)
		return fmt.Errorf("petrel exited before %q: %v", startedMarker, r.err)
	case <-timer.C:
		r.cmd.Process.Kill()
		<-r.done
		p.clearCurrent(r)
		return fmt.Errorf("petrel did not log %q within %v", startedMarker, readyTimeout)
	}
}

func (p *Petrel) clearCurrent(r *petrelRun) {
	p.mu.Lock()
	if p.cur == r {
		p.cur = nil
	}
	p.mu.Unlock()
}

func (p *Petrel) current() *petrelRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// terminate sends SIGTERM and checks the graceful-stop contract: exit code
// 0 and the "stopped cleanly" line. A process that outlives stopTimeout is
// killed and reported.
func (p *Petrel) terminate() error {
	r := p.current()
	if r == nil {
		return errors.New("petrel: not running")
	}
	defer p.clearCurrent(r)
	sent := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		r.cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("petrel did not exit within %v of SIGTERM; killed", stopTimeout)
	}
	took := r.ended.Sub(sent)
	if r.err != nil {
		return fmt.Errorf("petrel exited after SIGTERM with %v (want exit code 0), after %v", r.err, took)
	}
	if !r.out.contains(stoppedMarker) {
		return fmt.Errorf("petrel exited 0 after SIGTERM but never logged %q", stoppedMarker)
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *Petrel) kill() {
	r := p.current()
	if r == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	p.clearCurrent(r)
}

// Log returns the stderr of every run so far.
func (p *Petrel) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// runLog receives one run's stderr: it appends complete lines to the
// instance's log and closes ready at the first startedMarker line.
type runLog struct {
	p *Petrel

	mu      sync.Mutex
	partial []byte
	text    strings.Builder // this run's complete lines
	ready   chan struct{}
	isReady bool
}

func newRunLog(p *Petrel) *runLog { return &runLog{p: p, ready: make(chan struct{})} }

func (l *runLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.addLineLocked(l.partial[:i+1])
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

// flush keeps a last line a SIGKILL cut short.
func (l *runLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.addLineLocked(append(l.partial, '\n'))
		l.partial = nil
	}
}

func (l *runLog) addLineLocked(line []byte) {
	l.text.Write(line)
	l.p.mu.Lock()
	l.p.log.Write(line)
	l.p.mu.Unlock()
	if !l.isReady && bytes.Contains(line, []byte(startedMarker)) {
		l.isReady = true
		close(l.ready)
	}
}

func (l *runLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.text.String(), s)
}

// killLeftovers kills petrel processes no test stopped and says how many.
func killLeftovers() []string {
	liveMu.Lock()
	var runs []*petrelRun
	var dirs []string
	for r, dir := range live {
		runs = append(runs, r)
		dirs = append(dirs, dir)
	}
	liveMu.Unlock()
	for _, r := range runs {
		r.cmd.Process.Kill()
		<-r.done
	}
	return dirs
}

// startPetrel starts an instance for t with its own data directory and
// ports; sets are extra broker.conf overrides (key=value). When t ends the
// instance is stopped with SIGTERM, which must be clean, and its stderr and
// the client's warnings and errors are printed if t failed (or PETREL_LOG
// is set).
func startPetrel(t testing.TB, sets ...string) *Petrel {
	t.Helper()
	p, err := newPetrel(t.TempDir(), sets...)
	if err != nil {
		t.Fatal(err)
	}
	clientMark := clientLog.mark()
	t.Cleanup(func() {
		if p.current() != nil {
			if err := p.terminate(); err != nil {
				t.Errorf("stopping petrel at the end of the test: %v", err)
			}
		}
		if (t.Failed() || os.Getenv("PETREL_LOG") != "") && p.runs > 0 {
			t.Logf("petrel stderr (data %s, namesrv %s, broker %s):\n%s", p.Dir, p.NamesrvAddr, p.BrokerAddr, p.Log())
		}
		if t.Failed() || os.Getenv("PETREL_LOG") != "" {
			t.Logf("official client's warnings and errors during the test:\n%s", clientLog.since(clientMark))
		}
	})
	if err := p.start(); err != nil {
		t.Fatalf("start petrel: %v", err)
	}
	return p
}

// Restart starts the instance again on the same data directory and ports.
func (p *Petrel) Restart(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatalf("restart petrel: %v", err)
	}
}

// Stop stops the instance with SIGTERM and fails t unless it exits 0 within
// the contract's time and logs that it stopped cleanly.
func (p *Petrel) Stop(t testing.TB) {
	t.Helper()
	if err := p.terminate(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

// Kill stops the instance with SIGKILL.
func (p *Petrel) Kill(t testing.TB) {
	t.Helper()
	p.kill()
}
