package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// consumerProcessEnv, when set, makes TestConsumerProcess run a consumer
// instead of skipping: "namesrv|group|topic|instance".
const consumerProcessEnv = "PETREL_COMPAT_CONSUMER_PROCESS"

// consumedPrefix starts each line the consumer process prints for a
// message its callback accepted.
const consumedPrefix = "consumed "

// slowHandle returns a push-consumer callback that calls record for each
// message and then takes a while, one message at a time (the client runs
// up to 20 callbacks at once), so a backlog drains slowly enough for a
// test to act in the middle of it.
func slowHandle(record func(body string)) func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	var mu sync.Mutex
	return func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			record(string(m.Body))
			time.Sleep(20 * time.Millisecond)
		}
		return consumer.ConsumeSuccess, nil
	}
}

// stoppedLine is what the consumer process prints once a SIGTERM made it
// shut its consumer down.
const stoppedLine = "stopped"

// TestConsumerProcess is not a test: it is the consumer process
// TestConsumerLeavesMidBacklog starts from this test binary. Killed with
// SIGKILL, its client dies as a crashed application's would: no last
// offset commit, its connections cut by the kernel. On SIGTERM it shuts
// the consumer down (which commits offsets and closes the connections;
// the Go client sends no UNREGISTER_CLIENT) and says so.
// It prints a line for every message its callback accepts, and commits
// its offsets every 100 ms (the client's own timer does so every 5 s,
// first after 10 s), as a client with a short commit interval would, so
// the broker holds commits of a dead consumer for the survivor to resume
// from.
func TestConsumerProcess(t *testing.T) {
	spec := os.Getenv(consumerProcessEnv)
	if spec == "" {
		t.Skip("only runs as the consumer process TestConsumerLeavesMidBacklog starts")
	}
	f := strings.Split(spec, "|")
	if len(f) != 4 {
		t.Fatalf("%s=%q: want namesrv|group|topic|instance", consumerProcessEnv, spec)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	p := &Petrel{NamesrvAddr: f[0]}
	var out sync.Mutex
	say := func(line string) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintln(os.Stdout, line) // os.Stdout is unbuffered
	}
	handle := slowHandle(func(body string) { say(consumedPrefix + body) })
	c, err := openPushConsumer(p, f[1], f[2], "*", handle, consumer.WithInstance(f[3]))
	if err != nil {
		t.Fatal(err)
	}
	persister := c.PushConsumer.(interface{ PersistConsumerOffset() error })
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// The bound only keeps an orphan from living on.
	orphaned := time.After(2 * deliverTimeout)
	for {
		select {
		case <-tick.C:
			persister.PersistConsumerOffset()
		case <-term:
			c.Shutdown()
			say(stoppedLine)
			<-orphaned // until killed
			return
		case <-orphaned:
			c.Shutdown()
			return
		}
	}
}

// consumerProcess is a running TestConsumerProcess and what it consumed.
type consumerProcess struct {
	cmd     *exec.Cmd
	in      *Inbox
	stopped chan struct{} // closed when it printed stoppedLine
	stderr  bytes.Buffer
	read    chan struct{} // closed when its stdout reached EOF
	once    sync.Once
}

// startConsumerProcess runs a clustering push consumer of group on topic
// in a child process (this test binary, running TestConsumerProcess). It
// is killed when t ends if the test has not killed it.
func startConsumerProcess(t *testing.T, p *Petrel, group, topic string) *consumerProcess {
	t.Helper()
	cp := &consumerProcess{in: newInbox(), stopped: make(chan struct{}), read: make(chan struct{})}
	cp.cmd = exec.Command(os.Args[0], "-test.run=^TestConsumerProcess$", "-test.count=1")
	cp.cmd.Env = append(os.Environ(),
		consumerProcessEnv+"="+strings.Join([]string{p.NamesrvAddr, group, topic, instanceName("child")}, "|"),
		"PETREL_BIN="+petrelBinary) // TestMain of the child need not build petrel again
	cp.cmd.Stderr = &cp.stderr
	stdout, err := cp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.cmd.Start(); err != nil {
		t.Fatalf("start consumer process: %v", err)
	}
	go func() {
		defer close(cp.read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if body, ok := strings.CutPrefix(sc.Text(), consumedPrefix); ok {
				cp.in.Add(&primitive.MessageExt{Message: primitive.Message{Body: []byte(body)}})
			} else if sc.Text() == stoppedLine {
				close(cp.stopped)
			}
		}
	}()
	t.Cleanup(func() {
		cp.kill()
		if t.Failed() {
			t.Logf("consumer process output:\n%s", cp.stderr.String())
		}
	})
	return cp
}

// kill ends the process with SIGKILL and waits until it is reaped and
// everything it printed has been read.
func (cp *consumerProcess) kill() {
	cp.once.Do(func() {
		cp.cmd.Process.Kill()
		<-cp.read
		cp.cmd.Wait()
	})
}

// stop makes the process shut its consumer down and waits until it has.
func (cp *consumerProcess) stop(t *testing.T) {
	t.Helper()
	if err := cp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the consumer process: %v", err)
	}
	select {
	case <-cp.stopped:
	case <-time.After(opTimeout):
		t.Fatalf("the consumer process did not shut its consumer down within %v", opTimeout)
	}
}

// TestConsumerLeavesMidBacklog splits a backlog between two clustering
// consumers of a group, one in a child process, and makes that one leave
// halfway through: killed with SIGKILL (a crash) or shut down. The broker
// must notice the closed connection, drop the member and tell the
// survivor, which takes over the queues from the offsets committed for
// them: every message is consumed at least once by one of the two (what
// the leaver consumed but never committed may come twice), and not
// everything the leaver consumed comes again.
func TestConsumerLeavesMidBacklog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(*testing.T, *consumerProcess)
	}{
		{"killed", func(_ *testing.T, cp *consumerProcess) { cp.kill() }},
		{"shut down", func(t *testing.T, cp *consumerProcess) { cp.stop(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { leaveMidBacklog(t, tc.leave) })
	}
}

func leaveMidBacklog(t *testing.T, leave func(*testing.T, *consumerProcess)) {
	p := startPetrel(t)
	const topic, group, queues = "MidBacklog", "MidBacklogGroup", 4
	createTopic(t, p, topic, queues)
	all := bodies("backlog", 200)
	sendAllSync(t, newProducer(t, p), topic, all)

	child := startConsumerProcess(t, p, group, topic)
	eventually(t, deliverTimeout, func() bool { return child.in.Len() >= 10 }, func() string {
		return fmt.Sprintf("the consumer process consumed only %d messages", child.in.Len())
	})

	survivor := newInbox()
	c, err := openPushConsumer(p, group, topic, "*", slowHandle(func(body string) {
		survivor.Add(&primitive.MessageExt{Message: primitive.Message{Body: []byte(body)}})
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	eventually(t, deliverTimeout, func() bool {
		return len(c.OwnedQueues(topic)) == queues/2 && survivor.Len() >= 10 && child.in.Len() >= 40
	}, func() string {
		return fmt.Sprintf("the in-process consumer owns queues %v and consumed %d messages, the process %d; "+
			"want half the queues, 10 and 40", c.OwnedQueues(topic), survivor.Len(), child.in.Len())
	})

	leave(t, child)
	consumed := func() int {
		n := 0
		for _, b := range all {
			if child.in.Count(b)+survivor.Count(b) > 0 {
				n++
			}
		}
		return n
	}
	atLeave := consumed()
	if atLeave == len(all) {
		t.Fatalf("the backlog was consumed before the consumer left; nothing was left to take over")
	}

	eventually(t, deliverTimeout, func() bool { return len(c.OwnedQueues(topic)) == queues }, func() string {
		return fmt.Sprintf("after the other consumer left the survivor owns queues %v of %d: the broker still counts the departed client",
			c.OwnedQueues(topic), queues)
	})
	eventually(t, deliverTimeout, func() bool { return consumed() == len(all) }, func() string {
		var lost []string
		for _, b := range all {
			if child.in.Count(b)+survivor.Count(b) == 0 {
				lost = append(lost, b)
			}
		}
		return fmt.Sprintf("%d of %d messages never consumed, e.g. %v", len(lost), len(all), lost[:min(len(lost), 10)])
	})
	child.kill() // a stopped process has printed all it will
	redelivered := 0
	for _, b := range all {
		if child.in.Count(b) > 0 && survivor.Count(b) > 0 {
			redelivered++
		}
	}
	// The leaver committed what it had consumed up to 100 ms before it
	// left; the survivor resumes from those commits, not from the start.
	if redelivered >= child.in.Len() {
		t.Errorf("the survivor consumed again all %d messages the departed consumer had consumed and committed", child.in.Len())
	}
	t.Logf("departed consumer consumed %d, survivor %d; %d of %d consumed when it left; %d consumed by both",
		child.in.Len(), survivor.Len(), atLeave, len(all), redelivered)
}
