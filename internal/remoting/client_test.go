package remoting

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

func TestPendingCallsFailWhenServerCloses(t *testing.T) {
	checkNoLeaks(t)
	entered := make(chan struct{}, 1)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		entered <- struct{}{}
		return nil // never answered
	}))
	client, _ := newTestClient(t, ClientOptions{})
	errc := make(chan error, 1)
	go func() {
		// No deadline: only the closing connection can end this call.
		_, err := client.Invoke(context.Background(), srv.addr, protocol.NewRequest(protocol.PullMessage, nil, nil))
		errc <- err
	}()
	recv(t, entered, "the handler")
	srv.Close()
	err := recv(t, errc, "the pending call to fail")
	if !errors.Is(err, ErrConnClosed) || !strings.Contains(err.Error(), srv.addr) || !strings.Contains(err.Error(), "PULL_MESSAGE") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientRedialsAfterConnectionLoss(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	client, _ := newTestClient(t, ClientOptions{})
	ctx := ctxTimeout(t)
	first, err := client.Conn(ctx, srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := client.Conn(ctx, srv.addr); again != first {
		t.Fatal("a second Conn call dialled again")
	}
	srv.conn(t, 0).Close()
	recv(t, first.Closed(), "the client side to see the close")
	if _, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if n := srv.count(StateNew); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestDialErrorNamesTheAddress(t *testing.T) {
	checkNoLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	client, _ := newTestClient(t, ClientOptions{})
	_, err = client.Invoke(ctxTimeout(t), addr, protocol.NewRequest(protocol.GetRouteInfoByTopic, nil, nil))
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) {
		t.Fatalf("err = %v", err)
	}
	async := make(chan error, 1)
	client.InvokeAsync(ctxTimeout(t), addr, protocol.NewRequest(protocol.GetRouteInfoByTopic, nil, nil), func(_ *protocol.Command, err error) {
		async <- err
	})
	if err := recv(t, async, "the async callback"); err == nil {
		t.Fatal("InvokeAsync to a closed port succeeded")
	}
}

func TestInvokeTimeoutAndLateReply(t *testing.T) {
	checkNoLeaks(t)
	parked := make(chan *Request, 1)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		parked <- req
		return nil
	}))
	client, logs := newTestClient(t, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := client.Invoke(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.addr) {
		t.Fatalf("err = %v", err)
	}
	req := recv(t, parked, "the handler")
	if err := req.Reply(req.Cmd.NewResponse(protocol.Success, "")); err != nil {
		t.Fatal(err)
	}
	logs.waitLine(t, "DEBUG", "dropping a response nobody waits for", "opaque=")
}

func TestClientClose(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command { return nil }))
	client := NewClient(ClientOptions{Logger: srv.Logger})
	failed := make(chan error, 1)
	client.InvokeAsync(context.Background(), srv.addr, protocol.NewRequest(protocol.PullMessage, nil, nil), func(_ *protocol.Command, err error) {
		failed <- err
	})
	waitFor(t, "the request to reach the server", func() bool { return srv.count(StateNew) == 1 })
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, failed, "the pending call"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending call: %v", err)
	}
	if _, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
}

// The leak check must be able to fail: with a connection open it sees the
// connection's goroutines.
func TestLeakCheckSeesOpenConnections(t *testing.T) {
	checkNoLeaks(t)
	srv := startServer(t, HandlerFunc(echo))
	client, _ := newTestClient(t, ClientOptions{})
	if _, err := client.Invoke(ctxTimeout(t), srv.addr, protocol.NewRequest(protocol.HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if stacks := leakedGoroutines(); !strings.Contains(stacks, "(*Conn).readLoop") || !strings.Contains(stacks, "(*Conn).writeLoop") {
		t.Fatalf("leak check misses open connections:\n%s", stacks)
	}
}

// TestInvokeUntilDeadline: InvokeUntil's deadline ends the wait like a
// context deadline, and the pooled call (with its timer) serves the next
// request normally.
func TestInvokeUntilDeadline(t *testing.T) {
	checkNoLeaks(t)
	var calls atomic.Int32
	srv := startServer(t, HandlerFunc(func(req *Request) *protocol.Command {
		if calls.Add(1) == 1 {
			return nil // park the first: it is never answered
		}
		return req.Cmd.NewResponse(protocol.Success, "second")
	}))
	client, _ := newTestClient(t, ClientOptions{})
	ctx := context.Background()
	_, err := client.InvokeUntil(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), time.Now().Add(20*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.addr) {
		t.Fatalf("err = %v", err)
	}
	resp, err := client.InvokeUntil(ctx, srv.addr, protocol.NewRequest(protocol.SendMessage, nil, nil), time.Now().Add(time.Minute))
	if err != nil || resp.Remark != "second" {
		t.Fatalf("second call: %v %v", resp, err)
	}
}
