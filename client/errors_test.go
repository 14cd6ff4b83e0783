package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/testserver"
)

func TestSendRetriesBusyBrokerThenSucceeds(t *testing.T) {
	a := &fakeBroker{name: "broker-a"}
	a.answer = func(n int32, req *protocol.Command) *protocol.Command {
		if n == 1 {
			return req.NewResponse(protocol.SystemBusy, "[REJECTREQUEST]system busy")
		}
		return stored(protocol.Success)(n, req)
	}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, nil)
	res, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != SendOK || res.Attempts != 2 || a.sends.Load() != 2 || res.Queue.BrokerName != "broker-a" {
		t.Fatalf("result %+v after %d sends", res, a.sends.Load())
	}
}

func TestSendRetriesOnAnotherBroker(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: refuse(protocol.SystemError, "disk broken")}
	b := &fakeBroker{name: "broker-b", answer: stored(protocol.Success)}
	fc := startFakeCluster(t, a, b)
	p := fakeProducer(t, fc, nil)
	for range 10 {
		res, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
		if err != nil {
			t.Fatal(err)
		}
		if res.Queue.BrokerName != "broker-b" {
			t.Fatalf("stored on %s", res.Queue.BrokerName)
		}
	}
	// Round robin reaches broker-a within two sends; after its failure
	// the retry goes to broker-b, and broker-a is avoided from then on.
	if a.sends.Load() < 1 || b.sends.Load() != 10 {
		t.Fatalf("broker-a got %d sends, broker-b %d", a.sends.Load(), b.sends.Load())
	}
}

func TestSendErrorIsTyped(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: refuse(protocol.MessageIllegal, "the message body is too large")}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, nil)
	_, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
	if !errors.Is(err, ErrMessageIllegal) {
		t.Fatalf("err = %v, want ErrMessageIllegal", err)
	}
	var be *BrokerError
	if !errors.As(err, &be) || be.Broker != "broker-a" || be.Addr != a.addr || be.Code != protocol.MessageIllegal ||
		be.Remark != "the message body is too large" {
		t.Fatalf("broker error %+v", be)
	}
	for _, want := range []string{"broker-a", a.addr, "MESSAGE_ILLEGAL (13)", "too large"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if a.sends.Load() != 1 {
		t.Fatalf("MESSAGE_ILLEGAL was retried: %d sends", a.sends.Load())
	}
}

func TestSendGivesUpAfterRetryTimes(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: refuse(protocol.ServiceNotAvailable, "store is not writable")}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, nil)
	_, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
	var se *SendError
	if !errors.As(err, &se) || len(se.Attempts) != 1+DefaultRetryTimes || !errors.Is(err, ErrServiceNotAvailable) {
		t.Fatalf("err = %v", err)
	}
	if a.sends.Load() != 1+DefaultRetryTimes {
		t.Fatalf("%d sends", a.sends.Load())
	}

	p2 := fakeProducer(t, fc, func(c *ProducerConfig) { c.RetryTimes = -1; c.InstanceName += "-2" })
	a.sends.Store(0)
	if _, err := p2.Send(testCtx(t), NewMessage("T", []byte("x"))); err == nil || a.sends.Load() != 1 {
		t.Fatalf("no-retry producer: err %v after %d sends", err, a.sends.Load())
	}
}

func TestSendStatusReturnedAsIs(t *testing.T) {
	for code, want := range map[int32]SendStatus{
		protocol.FlushDiskTimeout:  SendFlushDiskTimeout,
		protocol.FlushSlaveTimeout: SendFlushSlaveTimeout,
		protocol.SlaveNotAvailable: SendSlaveNotAvailable,
	} {
		a := &fakeBroker{name: "broker-a", answer: stored(code)}
		fc := startFakeCluster(t, a)
		p := fakeProducer(t, fc, func(c *ProducerConfig) { c.InstanceName += want.String() })
		res, err := p.Send(testCtx(t), NewMessage("T", []byte("x")))
		if err != nil || res.Status != want || res.Attempts != 1 || res.OffsetMsgID == "" {
			t.Fatalf("code %d: %+v, %v", code, res, err)
		}
	}
}

func TestSendTimeout(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: func(int32, *protocol.Command) *protocol.Command { return nil }}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, func(c *ProducerConfig) { c.SendTimeout = 300 * time.Millisecond })
	_, err := p.Send(context.Background(), NewMessage("T", []byte("x")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	var be *BrokerError
	if !errors.As(err, &be) || be.Broker != "broker-a" {
		t.Fatalf("err = %v does not name the broker", err)
	}
	// A sooner ctx deadline wins over SendTimeout.
	p2 := fakeProducer(t, fc, func(c *ProducerConfig) { c.SendTimeout = time.Hour; c.InstanceName += "-2" })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p2.Send(ctx, NewMessage("T", []byte("x"))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
}

// TestSendAsyncTimeout: a SendAsync whose broker never answers ends with
// a deadline error naming the broker once SendTimeout passes, both
// through the batching path (a deadline swept by the connection) and
// alone (a message that cannot be batched: a timer context).
func TestSendAsyncTimeout(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: func(int32, *protocol.Command) *protocol.Command { return nil }}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, func(c *ProducerConfig) { c.SendTimeout = 300 * time.Millisecond })
	for name, msg := range map[string]*Message{
		"batched": NewMessage("T", []byte("x")),
		"alone":   {Topic: "T", Body: []byte("x"), DelayLevel: 1},
	} {
		errs := make(chan error, 1)
		start := time.Now()
		if err := p.SendAsync(testCtx(t), msg, func(_ *SendResult, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
		var err error
		select {
		case err = <-errs:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no callback 10 s after a send with a 300 ms timeout", name)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: err = %v, want a deadline", name, err)
		}
		var be *BrokerError
		if !errors.As(err, &be) || be.Broker != "broker-a" {
			t.Fatalf("%s: err = %v does not name the broker", name, err)
		}
		if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
			t.Fatalf("%s: failed after %v, before its 300 ms timeout", name, elapsed)
		}
	}
}

func TestSendAsyncRetries(t *testing.T) {
	a := &fakeBroker{name: "broker-a"}
	a.answer = func(n int32, req *protocol.Command) *protocol.Command {
		if n == 1 {
			return req.NewResponse(protocol.SystemError, "try again")
		}
		return stored(protocol.Success)(n, req)
	}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, nil)
	done := make(chan struct{})
	var (
		res *SendResult
		err error
	)
	if err := p.SendAsync(testCtx(t), NewMessage("T", []byte("x")), func(r *SendResult, e error) {
		res, err = r, e
		close(done)
	}); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil || res.Attempts != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestNoRoute(t *testing.T) {
	c := testserver.Start(t, testserver.Options{Configure: func(_ int, cfg *config.Broker) { cfg.AutoCreateTopicEnable = false }})
	p := newTestProducer(t, c, nil)
	_, err := p.Send(testCtx(t), NewMessage("Nowhere", []byte("x")))
	if !errors.Is(err, ErrNoRoute) {
		t.Fatalf("err = %v, want ErrNoRoute", err)
	}
}

func TestHeartbeatNamesProducerGroup(t *testing.T) {
	a := &fakeBroker{name: "broker-a", answer: stored(protocol.Success)}
	fc := startFakeCluster(t, a)
	p := fakeProducer(t, fc, nil)
	if _, err := p.Send(testCtx(t), NewMessage("T", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 10*time.Second, func() bool { return a.heartbeatCount() > 0 })
	a.mu.Lock()
	hb := a.heartbeats[0]
	a.mu.Unlock()
	if hb.ClientID != p.ClientID() || len(hb.ProducerDataSet) != 1 || hb.ProducerDataSet[0].GroupName != "pg" ||
		!strings.HasSuffix(hb.ClientID, "@"+t.Name()) {
		t.Fatalf("heartbeat %+v", hb)
	}
}
