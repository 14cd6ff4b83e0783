package remoting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

func TestRoundTrip(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	client, _ := newTestClient(t, ClientOptions{})
	for _, st := range []protocol.SerializeType{protocol.JSON, protocol.RocketMQ} {
		t.Run(st.String(), func(t *testing.T) {
			req := protocol.NewRequest(protocol.SendMessage, protocol.FieldsOf("topic", "T", "queueId", "1"), []byte("hello"))
			req.SerializeType = st
			resp, err := client.Invoke(ctxTimeout(t), srv.addr, req)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.IsResponse() || resp.Code != protocol.Success || string(resp.Body) != "hello" ||
				resp.Ext.Get("topic") != "T" || resp.SerializeType != st || resp.Version != protocol.CurrentVersion {
				t.Fatalf("response %v", resp)
			}
			if req.Opaque != 0 || req.Flag != 0 {
				t.Fatalf("Invoke modified the request: %v", req)
			}
		})
	}
}

// A raw peer sees the reply in the request's serialization, with its opaque.
func TestReplyMatchesRequestOnTheWire(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	rc := dialRaw(t, srv.addr)
	for i, st := range []protocol.SerializeType{protocol.JSON, protocol.RocketMQ} {
		req := &protocol.Command{Code: protocol.HeartBeat, Language: "JAVA", Version: 317, Opaque: int32(100 + i), SerializeType: st}
		rc.send(t, req)
		resp := rc.read(t)
		if resp.Opaque != req.Opaque || resp.Flag != protocol.FlagResponse || resp.SerializeType != st || resp.Language != "GO" {
			t.Fatalf("reply to %v: %v", req, resp)
		}
	}
}

func TestConcurrentInvokesShareOneConnection(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	client, _ := newTestClient(t, ClientOptions{})
	ctx := ctxTimeout(t)
	const goroutines, calls = 32, 100
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				body := fmt.Appendf(nil, "g%d-i%d", g, i)
				resp, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, body))
				if err == nil && !bytes.Equal(resp.Body, body) {
					err = fmt.Errorf("sent %q, got %q", body, resp.Body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.count(StateNew); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestHandlerRepliesLater(t *testing.T) {
	checkNoLeaks(t)
	parked := make(chan *Request, 1)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		parked <- req
		return nil
	}))
	client, _ := newTestClient(t, ClientOptions{})
	got := make(chan *protocol.Command, 1)
	client.InvokeAsync(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.PullMessage, nil, nil), func(resp *protocol.Command, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- resp
	})
	req := recv(t, parked, "the handler")
	replied := make(chan error, 2)
	go func() {
		// A shared response: Reply must not modify it.
		shared := &protocol.Command{Code: protocol.PullNotFound, Language: "GO", Remark: "later"}
		replied <- req.Reply(shared)
		replied <- req.Reply(shared)
	}()
	if err := recv(t, replied, "Reply"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, replied, "second Reply"); !errors.Is(err, ErrAlreadyReplied) {
		t.Fatalf("second Reply: %v", err)
	}
	resp := recv(t, got, "the response")
	if resp.Code != protocol.PullNotFound || resp.Remark != "later" {
		t.Fatalf("response %v", resp)
	}
}

func TestOnewayRequestsGetNoReply(t *testing.T) {
	checkNoLeaks(t)
	seen := make(chan *protocol.Command, 2)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		seen <- req.Cmd
		if err := req.Reply(req.Cmd.NewResponse(protocol.Success, "")); err != nil {
			t.Errorf("Reply on a oneway request: %v", err)
		}
		return req.Cmd.NewResponse(protocol.Success, "")
	}))
	rc := dialRaw(t, srv.addr)
	oneway := &protocol.Command{Code: protocol.UpdateConsumerOffset, Language: "JAVA", Opaque: 1, Flag: protocol.FlagOneway}
	normal := &protocol.Command{Code: protocol.HeartBeat, Language: "JAVA", Opaque: 2}
	rc.send(t, oneway)
	recv(t, seen, "the oneway request")
	rc.send(t, normal)
	recv(t, seen, "the normal request")
	if resp := rc.read(t); resp.Opaque != 2 {
		t.Fatalf("first frame back answers opaque %d, want only the reply to 2", resp.Opaque)
	}

	client, _ := newTestClient(t, ClientOptions{})
	if err := client.InvokeOneway(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.EndTransaction, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if cmd := recv(t, seen, "InvokeOneway's request"); !cmd.IsOneway() || cmd.Code != protocol.EndTransaction {
		t.Fatalf("got %v", cmd)
	}
}

func TestUnknownCodeIsNotSupported(t *testing.T) {
	checkNoLeaks(t)
	mux := NewMux()
	mux.HandleFunc(protocol.HeartBeat, echo)
	srv := startServer(t, mux)
	client, _ := newTestClient(t, ClientOptions{})
	resp, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(999, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != protocol.RequestCodeNotSupported || resp.Remark != " request type 999 not supported" {
		t.Fatalf("response %v", resp)
	}
	if resp, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, []byte("x"))); err != nil || resp.Code != protocol.Success {
		t.Fatalf("registered code: %v %v", resp, err)
	}
	// A nil Handler answers the same way.
	bare := startServer(t, nil)
	if resp, err := client.Invoke(ctxTimeout(t), bare.addr, protocol.NewRequest(7, nil, nil)); err != nil || resp.Code != protocol.RequestCodeNotSupported {
		t.Fatalf("nil handler: %v %v", resp, err)
	}
}

func TestMuxRejectsDuplicatesAndNil(t *testing.T) {
	for name, f := range map[string]func(m *Mux){
		"duplicate": func(m *Mux) { m.HandleFunc(1, echo); m.HandleFunc(1, echo) },
		"nil":       func(m *Mux) { m.Handle(1, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(new(Mux))
		})
	}
}

func TestHandlerPanicAnswersSystemError(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		if req.Cmd.Code == protocol.SendMessage {
			panic("boom")
		}
		return echo(req)
	}))
	client, _ := newTestClient(t, ClientOptions{})
	resp, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != protocol.SystemError || resp.Remark != "boom" {
		t.Fatalf("response %v", resp)
	}
	srv.logs.waitLine(t, "handler panic", "panic=boom", "stack=", "SEND_MESSAGE")
	if resp, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); err != nil || resp.Code != protocol.Success {
		t.Fatalf("after the panic: %v %v", resp, err)
	}
	if n := srv.count(StateNew); n != 1 {
		t.Fatalf("%d connections, want the first to stay up", n)
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"malformed header", []byte("\x00\x00\x00\x06\x00\x00\x00\x02[]"), "not a JSON object"},
		{"bad length", []byte("\x00\x00\x00\x02\x00\x00\x00\x00"), "frame length 2"},
		{"oversized", []byte("\x00\x00\x10\x00\x00\x00\x00\x02{}"), "frame too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			srv := startServer(t, HandlerFunc(echo), func(s *Server) { s.MaxFrameSize = 1024 })
			client, _ := newTestClient(t, ClientOptions{})
			if _, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); err != nil {
				t.Fatal(err)
			}
			bad := dialRaw(t, srv.addr)
			bad.Write(tt.frame)
			if _, err := bad.r.ReadByte(); err == nil {
				t.Fatal("the server answered a bad frame")
			}
			line := srv.logs.waitLine(t, "WARN", "bad frame", tt.reason, "remote="+bad.LocalAddr().String())
			t.Log(line)
			resp, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil))
			if err != nil || resp.Code != protocol.Success {
				t.Fatalf("the other connection: %v %v", resp, err)
			}
			waitFor(t, "ConnState closed", func() bool { return srv.count(StateClosed) == 1 })
		})
	}
}

func TestFrameTooLargeToSendFailsTheCallOnly(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	client, _ := newTestClient(t, ClientOptions{MaxFrameSize: 4096})
	_, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, make([]byte, 5000)))
	if !errors.Is(err, protocol.ErrFrameTooLarge) || !strings.Contains(err.Error(), srv.addr) {
		t.Fatalf("err = %v", err)
	}
	if _, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo), func(s *Server) { s.IdleTimeout = 20 * time.Millisecond })
	rc := dialRaw(t, srv.addr)
	if _, err := rc.r.ReadByte(); err == nil {
		t.Fatal("read a byte from an idle connection")
	}
	srv.logs.waitLine(t, "idle connection", "remote="+rc.LocalAddr().String())
	waitFor(t, "ConnState closed", func() bool { return srv.count(StateClosed) == 1 })
}

func TestServerInvokesClient(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	notified := make(chan *protocol.Command, 1)
	client, _ := newTestClient(t, ClientOptions{Handler: HandlerFunc(func(req *Request) *protocol.Command {
		switch req.Cmd.Code {
		case protocol.GetConsumerRunningInfo:
			resp := req.Cmd.NewResponse(protocol.Success, "")
			resp.Body = []byte(`{"running":true,"client":"` + req.Cmd.Ext.Get("clientId") + `"}`)
			return resp
		case protocol.NotifyConsumerIDsChanged:
			notified <- req.Cmd
		}
		return nil
	})})
	ctx := ctxTimeout(t)
	if _, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	serverSide := srv.conn(t, 0)
	resp, err := serverSide.Invoke(ctx, protocol.NewRequest(protocol.GetConsumerRunningInfo, protocol.FieldsOf("clientId", "c1"), nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"running":true,"client":"c1"}` {
		t.Fatalf("response %v %s", resp, resp.Body)
	}
	if err := serverSide.InvokeOneway(protocol.NewRequest(protocol.NotifyConsumerIDsChanged, protocol.FieldsOf("consumerGroup", "g"), nil)); err != nil {
		t.Fatal(err)
	}
	if cmd := recv(t, notified, "the notification"); !cmd.IsOneway() || cmd.Ext.Get("consumerGroup") != "g" {
		t.Fatalf("notification %v", cmd)
	}
}

func TestConnValues(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		if id := req.Cmd.Ext.Get("clientID"); id != "" {
			req.Conn.SetValue("clientID", id)
		}
		resp := req.Cmd.NewResponse(protocol.Success, "")
		if v, ok := req.Conn.Value("clientID").(string); ok {
			resp.Remark = v
		}
		return resp
	}))
	client, _ := newTestClient(t, ClientOptions{})
	ctx := ctxTimeout(t)
	client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.HeartBeat, protocol.FieldsOf("clientID", "c-7"), nil))
	resp, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil))
	if err != nil || resp.Remark != "c-7" {
		t.Fatalf("%v %v", resp, err)
	}
	c := srv.conn(t, 0)
	c.SetValue("clientID", nil)
	if c.Value("clientID") != nil {
		t.Fatal("SetValue(nil) did not remove")
	}
	if c.ID() == 0 || c.LocalAddr().String() != srv.addr || c.RemoteAddr() == nil {
		t.Fatalf("conn %v", c)
	}
}

// gate is a handler that blocks until released and counts started calls.
type gate struct {
	started atomic.Int32
	entered chan *Request
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan *Request, 100), release: make(chan struct{})}
}

func (g *gate) ServeRemoting(req *Request) *protocol.Command {
	g.started.Add(1)
	g.entered <- req
	select {
	case <-g.release:
		return req.Cmd.NewResponse(protocol.Success, "released")
	case <-req.Context().Done():
		return nil
	}
}

func TestShutdownWaitsForRunningHandlers(t *testing.T) {
	checkNoLeaks(t)
	g := newGate()
	mux := NewMux()
	mux.Handle(protocol.SendMessage, g)
	mux.HandleFunc(protocol.HeartBeat, echo)
	srv := startServer(t, mux)
	client, _ := newTestClient(t, ClientOptions{})
	ctx := ctxTimeout(t)
	slow := make(chan *protocol.Command, 1)
	client.InvokeAsync(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), func(resp *protocol.Command, err error) {
		if err != nil {
			t.Error(err)
		}
		slow <- resp
	})
	recv(t, g.entered, "the slow handler")

	hookRan := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(hookRan) })
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(ctx) }()
	recv(t, hookRan, "the shutdown hook")

	// While draining, new requests are refused and Shutdown keeps waiting.
	resp, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil))
	if err != nil || resp.Code != protocol.ServiceNotAvailable {
		t.Fatalf("request during shutdown: %v %v", resp, err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while a handler runs", err)
	default:
	}
	close(g.release)
	if resp := recv(t, slow, "the slow response"); resp == nil || resp.Remark != "released" {
		t.Fatalf("slow response %v", resp)
	}
	if err := recv(t, shutdown, "Shutdown"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, srv.served, "Serve"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	srv.served <- ErrServerClosed // for the cleanup
	waitFor(t, "ConnState closed", func() bool { return srv.count(StateClosed) == 1 })
}

func TestShutdownContextEndsFirst(t *testing.T) {
	checkNoLeaks(t)
	g := newGate()
	srv := startServer(t, g)
	client, _ := newTestClient(t, ClientOptions{})
	failed := make(chan error, 1)
	client.InvokeAsync(context.Background(), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), func(_ *protocol.Command, err error) {
		failed <- err
	})
	recv(t, g.entered, "the handler")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := recv(t, failed, "the pending call to fail"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending call: %v", err)
	}
}

// Parked requests (handler returned nil) are released when their connection
// closes: Reply reports it and Shutdown does not wait for them.
func TestParkedRequestReleasedOnClose(t *testing.T) {
	checkNoLeaks(t)
	parked := make(chan *Request, 1)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		parked <- req
		return nil
	}))
	client, _ := newTestClient(t, ClientOptions{})
	failed := make(chan error, 1)
	client.InvokeAsync(context.Background(), srv.addr, protocol.NewRequest(protocol.PullMessage, nil, nil), func(_ *protocol.Command, err error) {
		failed <- err
	})
	req := recv(t, parked, "the handler")
	waitFor(t, "the request to be parked", req.parked.Load)
	srv.conn(t, 0).Close()
	if err := recv(t, failed, "the pending call to fail"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending call: %v", err)
	}
	if err := req.Reply(req.Cmd.NewResponse(protocol.Success, "")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Reply after close: %v", err)
	}
	if err := srv.Shutdown(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
}

func TestMaxInFlightPausesReading(t *testing.T) {
	checkNoLeaks(t)
	g := newGate()
	srv := startServer(t, g, func(s *Server) { s.MaxInFlightPerConn = 2 })
	client, _ := newTestClient(t, ClientOptions{})
	done := make(chan *protocol.Command, 3)
	for range 3 {
		client.InvokeAsync(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), func(resp *protocol.Command, err error) {
			if err != nil {
				t.Error(err)
			}
			done <- resp
		})
	}
	recv(t, g.entered, "handler 1")
	recv(t, g.entered, "handler 2")
	select {
	case <-g.entered:
		t.Fatal("a third handler started with MaxInFlightPerConn = 2")
	default:
	}
	close(g.release)
	for i := range 3 {
		recv(t, done, fmt.Sprintf("response %d", i))
	}
	if n := g.started.Load(); n != 3 {
		t.Fatalf("%d handlers ran", n)
	}
}

// TestRequestsBeforePeerCloseAreHandled: a peer that sends requests and
// closes at once (a consumer's last offset commits on shutdown) makes our
// replies fail; the requests it sent must still all be handled.
func TestRequestsBeforePeerCloseAreHandled(t *testing.T) {
	var handled atomic.Int64
	ts := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		handled.Add(1)
		return req.Cmd.NewResponse(protocol.Success, strings.Repeat("r", 64<<10)) // big replies fail sooner
	}))
	const rounds, perRound = 30, 20
	for i := 0; i < rounds; i++ {
		rc := dialRaw(t, ts.addr)
		var cmds []*protocol.Command
		for j := 0; j < perRound; j++ {
			cmd := protocol.NewRequest(protocol.UpdateConsumerOffset, protocol.FieldsOf("n", fmt.Sprint(j)), nil)
			cmd.Opaque = int32(j + 1)
			cmds = append(cmds, cmd)
		}
		rc.send(t, cmds...)
		rc.Close()
	}
	waitFor(t, "every request to be handled", func() bool { return handled.Load() == rounds*perRound })
}

// TestInvokeAsyncEndsWithContextOrClose: an async call whose context ends
// while the peer holds it fails with the context's error, and one pending
// when the connection closes fails with ErrConnClosed.
func TestInvokeAsyncEndsWithContextOrClose(t *testing.T) {
	checkNoLeaks(t)
	g := newGate()
	mux := NewMux()
	mux.Handle(protocol.SendMessage, g)
	srv := startServer(t, mux)
	client, _ := newTestClient(t, ClientOptions{})

	results := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	client.InvokeAsync(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), func(_ *protocol.Command, err error) {
		results <- err
	})
	recv(t, g.entered, "the held request")
	cancel()
	if err := recv(t, results, "the cancelled call's callback"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}

	client.InvokeAsync(context.Background(), srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), func(_ *protocol.Command, err error) {
		results <- err
	})
	recv(t, g.entered, "the second held request")
	conn, err := client.Conn(ctxTimeout(t), srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := recv(t, results, "the closed call's callback"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on a closed connection: %v, want ErrConnClosed", err)
	}
	close(g.release)
}

// TestInvokeAsyncUntilFailsPastItsDeadline: an InvokeAsyncUntil call the
// peer holds fails with context.DeadlineExceeded once its deadline passes
// (found by the connection's sweep), while a call answered in time gets
// its response and a later one with a distant deadline stays pending.
func TestInvokeAsyncUntilFailsPastItsDeadline(t *testing.T) {
	checkNoLeaks(t)
	g := newGate()
	mux := NewMux()
	mux.Handle(protocol.SendMessage, g)
	mux.HandleFunc(protocol.GetRouteInfoByTopic, func(req *Request) *protocol.Command {
		return req.Cmd.NewResponse(protocol.Success, "answered")
	})
	srv := startServer(t, mux)
	client, _ := newTestClient(t, ClientOptions{})
	conn, err := client.Conn(ctxTimeout(t), srv.addr)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		resp *protocol.Command
		err  error
	}
	answered, held, distant := make(chan result, 1), make(chan result, 1), make(chan result, 1)
	conn.InvokeAsyncUntil(time.Now().Add(time.Minute), protocol.NewRequest(protocol.GetRouteInfoByTopic, nil, nil), func(resp *protocol.Command, err error) {
		answered <- result{resp, err}
	})
	if r := recv(t, answered, "the answered call"); r.err != nil || r.resp.Remark != "answered" {
		t.Fatalf("answered call: %v, %v", r.resp, r.err)
	}
	start := time.Now()
	deadline := start.Add(2 * asyncSweepInterval)
	conn.InvokeAsyncUntil(deadline, protocol.NewRequest(protocol.SendMessage, nil, nil), func(resp *protocol.Command, err error) {
		held <- result{resp, err}
	})
	conn.InvokeAsyncUntil(time.Now().Add(time.Hour), protocol.NewRequest(protocol.SendMessage, nil, nil), func(resp *protocol.Command, err error) {
		distant <- result{resp, err}
	})
	recv(t, g.entered, "the first held request")
	recv(t, g.entered, "the second held request")
	r := recv(t, held, "the expired call's callback")
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("expired call: %v, %v; want context.DeadlineExceeded", r.resp, r.err)
	}
	if time.Now().Before(deadline) {
		t.Fatalf("the call failed %v after it started, before its deadline", time.Since(start))
	}
	select {
	case r := <-distant:
		t.Fatalf("the call with a distant deadline ended: %v, %v", r.resp, r.err)
	default:
	}
	close(g.release)
	if r := recv(t, distant, "the released call"); r.err != nil || r.resp.Remark != "released" {
		t.Fatalf("released call: %v, %v", r.resp, r.err)
	}
}

// TestInlineRequestsHoldTheConnection: a request Server.Inline picks is
// served on the connection's reader when nothing else from the peer is
// buffered, so a later request on the same connection is read only once
// it returns. Without Inline, or when the later request arrived with it
// (a pipelining peer), the later one is served meanwhile.
func TestInlineRequestsHoldTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name             string
		inline, together bool // Inline set; both frames in one write
		heldBack         bool // the heartbeat waits for the send
	}{
		{"without Inline", false, false, false},
		{"inline", true, false, true},
		{"inline but pipelined", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			g := newGate()
			heartbeat := make(chan string, 1)
			mux := NewMux()
			mux.Handle(protocol.SendMessage, g)
			mux.HandleFunc(protocol.HeartBeat, func(req *Request) *protocol.Command {
				select {
				case <-g.release:
					heartbeat <- "after the send"
				default:
					heartbeat <- "during the send"
				}
				return req.Cmd.NewResponse(protocol.Success, "")
			})
			srv := startServer(t, mux, func(s *Server) {
				if tc.inline {
					s.Inline = func(cmd *protocol.Command) bool { return cmd.Code == protocol.SendMessage }
				}
			})
			rc := dialRaw(t, srv.addr)
			send := protocol.NewRequest(protocol.SendMessage, nil, nil)
			send.Opaque = 1
			hb := protocol.NewRequest(protocol.HeartBeat, nil, nil)
			hb.Opaque = 2
			if tc.together {
				rc.send(t, send, hb)
				recv(t, g.entered, "the send's handler")
			} else {
				rc.send(t, send)
				recv(t, g.entered, "the send's handler")
				rc.send(t, hb)
			}
			want := "after the send"
			if !tc.heldBack {
				want = "during the send"
				if got := rc.read(t).Opaque; got != 2 {
					t.Fatalf("first reply to opaque %d, want the heartbeat's while the send is held", got)
				}
			}
			close(g.release)
			if got := recv(t, heartbeat, "the heartbeat's handler"); got != want {
				t.Fatalf("heartbeat served %s, want %s", got, want)
			}
			if tc.heldBack {
				if a, b := rc.read(t).Opaque, rc.read(t).Opaque; a != 1 || b != 2 {
					t.Fatalf("replies to opaques %d then %d, want 1 then 2", a, b)
				}
			} else if got := rc.read(t).Opaque; got != 1 {
				t.Fatalf("second reply to opaque %d", got)
			}
		})
	}
}
