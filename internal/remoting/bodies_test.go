package remoting

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/petrel-mq/petrel/internal/protocol"
)

func TestBodyClasses(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{1, 0}, {1024, 0}, {1025, 1}, {2048, 1}, {2049, 2}, {32 << 10, 5}, {32<<10 + 1, 6}, {64 << 10, 6},
	} {
		if got := bodyClass(tc.n); got != tc.class {
			t.Errorf("bodyClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
		p := getBody(tc.n)
		if p == nil || cap(*p) < tc.n || bodyClass(cap(*p)) != tc.class {
			t.Fatalf("getBody(%d) gave a buffer of %d bytes", tc.n, cap(*p))
		}
		putBody(p)
	}
	if getBody(maxPooledBody+1) != nil {
		t.Error("a body above 64 KiB was pooled")
	}
}

// TestRecycledBodiesOutliveTheirRequests: a request whose body is pooled
// keeps it, unchanged, until it is answered, even after its handler
// returned and while later requests of the same size are read; once
// answered, the buffers are reused.
func TestRecycledBodiesOutliveTheirRequests(t *testing.T) {
	checkNoLeaks(t)
	parked := make(chan *Request, 1)
	seen := make(map[*byte]bool)
	bodies := make(chan []byte, 200)
	mux := NewMux()
	mux.HandleFunc(protocol.SendMessage, func(req *Request) *protocol.Command {
		if string(req.Cmd.Body[:4]) == "park" {
			parked <- req
			return nil // answered by the test, later
		}
		bodies <- req.Cmd.Body
		return req.Cmd.NewResponse(protocol.Success, "")
	})
	srv := startServer(t, mux, func(s *Server) {
		s.RecycleBody = func(cmd *protocol.Command) bool { return cmd.Code == protocol.SendMessage }
	})
	rc := dialRaw(t, srv.addr)
	body := func(prefix string) []byte {
		return append([]byte(prefix), bytes.Repeat([]byte{'x'}, 1000)...)
	}
	first := protocol.NewRequest(protocol.SendMessage, nil, body("park"))
	first.Opaque = 1
	rc.send(t, first)
	held := recv(t, parked, "the parked request")
	const n = 100
	for i := range n {
		req := protocol.NewRequest(protocol.SendMessage, nil, body("next"+strconv.Itoa(i%10)))
		req.Opaque = int32(2 + i)
		rc.send(t, req)
		if got := rc.read(t).Opaque; got != req.Opaque {
			t.Fatalf("reply to opaque %d, want %d", got, req.Opaque)
		}
		b := recv(t, bodies, "a served body")
		seen[&b[0]] = true
		if !bytes.Equal(held.Cmd.Body, first.Body) {
			t.Fatalf("the parked request's body changed after %d more requests: %.12q", i+1, held.Cmd.Body)
		}
	}
	if err := held.Reply(held.Cmd.NewResponse(protocol.Success, "")); err != nil {
		t.Fatal(err)
	}
	if got := rc.read(t).Opaque; got != 1 {
		t.Fatalf("reply to opaque %d, want 1", got)
	}
	// Without recycling every request has a body of its own. With it,
	// sync.Pool keeps a buffer per P (and the race detector makes it
	// drop a quarter of what it is given).
	if len(seen) > n*3/4 {
		t.Fatalf("%d requests used %d body buffers: bodies are not reused", n, len(seen))
	}
}
