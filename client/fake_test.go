package client

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// fakeBroker is a remoting server that answers sends as the test says,
// to produce failures a real broker does not.
type fakeBroker struct {
	name  string
	addr  string
	sends atomic.Int32
	// answer returns the response to the n-th send (from 1); nil means
	// never answer.
	answer func(n int32, req *protocol.Command) *protocol.Command

	mu         sync.Mutex
	heartbeats []body.HeartbeatData
}

// fakeCluster is a fake name server routing topic "T" to fake brokers,
// two queues each.
type fakeCluster struct {
	nsAddr  string
	brokers []*fakeBroker
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startFakeCluster(t *testing.T, brokers ...*fakeBroker) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{brokers: brokers}
	for _, fb := range brokers {
		fb.addr = serveFake(t, fb.handler())
	}
	ns := remoting.NewMux()
	ns.HandleFunc(protocol.GetRouteInfoByTopic, func(req *remoting.Request) *protocol.Command {
		if req.Cmd.Ext.Get("topic") != "T" {
			return req.Cmd.NewResponse(protocol.TopicNotExist, "no such topic")
		}
		var rd body.TopicRouteData
		for _, fb := range fc.brokers {
			rd.QueueDatas = append(rd.QueueDatas, body.QueueData{BrokerName: fb.name, ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6})
			rd.BrokerDatas = append(rd.BrokerDatas, body.BrokerData{Cluster: "c", BrokerName: fb.name, BrokerAddrs: map[int64]string{0: fb.addr}})
		}
		resp := req.Cmd.NewResponse(protocol.Success, "")
		resp.Body = body.Marshal(rd)
		return resp
	})
	fc.nsAddr = serveFake(t, ns)
	return fc
}

func serveFake(t *testing.T, h remoting.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &remoting.Server{Handler: h, Logger: quietLogger()}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ln.Addr().String()
}

func (fb *fakeBroker) handler() remoting.Handler {
	mux := remoting.NewMux()
	send := func(req *remoting.Request) *protocol.Command {
		n := fb.sends.Add(1)
		resp := fb.answer(n, req.Cmd)
		if resp == nil {
			req.Reply(nil) // never answered: the client times out
		}
		return resp
	}
	mux.HandleFunc(protocol.SendMessageV2, send)
	mux.HandleFunc(protocol.SendBatchMessage, send)
	mux.HandleFunc(protocol.HeartBeat, func(req *remoting.Request) *protocol.Command {
		var hb body.HeartbeatData
		if err := json.Unmarshal(req.Cmd.Body, &hb); err == nil {
			fb.mu.Lock()
			fb.heartbeats = append(fb.heartbeats, hb)
			fb.mu.Unlock()
		}
		return req.Cmd.NewResponse(protocol.Success, "")
	})
	return mux
}

func (fb *fakeBroker) heartbeatCount() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return len(fb.heartbeats)
}

// stored answers like a broker that stored the message.
func stored(code int32) func(n int32, req *protocol.Command) *protocol.Command {
	return func(n int32, req *protocol.Command) *protocol.Command {
		resp := req.NewResponse(code, "")
		resp.Ext = protocol.FieldsOf(
			"msgId", message.OffsetMsgID(netip.MustParseAddrPort("127.0.0.1:10911"), int64(n)*100),
			"queueId", req.Ext.Get("e"), "queueOffset", strconv.Itoa(int(n)), "MSG_REGION", "DefaultRegion")
		return resp
	}
}

// refuse answers every send with code and remark.
func refuse(code int32, remark string) func(n int32, req *protocol.Command) *protocol.Command {
	return func(n int32, req *protocol.Command) *protocol.Command { return req.NewResponse(code, remark) }
}

func fakeProducer(t *testing.T, fc *fakeCluster, mod func(*ProducerConfig)) *Producer {
	t.Helper()
	cfg := ProducerConfig{
		Config: Config{NameServers: []string{fc.nsAddr}, InstanceName: t.Name(), Logger: quietLogger()},
		Group:  "pg",
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
