package namesrv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// waitTimeout bounds every wait; reaching it is a failure, not a timing
// assertion.
const waitTimeout = 10 * time.Second

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for delay := 100 * time.Microsecond; !cond(); delay = min(2*delay, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkGoroutines fails the test if the goroutine count does not return to
// what it was when checkGoroutines was called. Call it first so its cleanup
// runs last.
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a name server on loopback.
type fixture struct {
	ns   *Namesrv
	addr string
}

// startNamesrv serves a Namesrv on 127.0.0.1:0 until the test ends.
func startNamesrv(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.BrokerExpiry == 0 {
		opts.BrokerExpiry = time.Hour // only connection closes remove brokers
	}
	ns := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &remoting.Server{Handler: ns, Logger: opts.Logger, ConnState: ns.ConnState}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, remoting.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		ns.Close()
	})
	return &fixture{ns: ns, addr: ln.Addr().String()}
}

func newClient(t *testing.T) *remoting.Client {
	c := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	t.Cleanup(func() { c.Close() })
	return c
}

func invoke(t *testing.T, c *remoting.Client, addr string, req *protocol.Command) *protocol.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", protocol.RequestName(req.Code), err)
	}
	return resp
}

func brokerA() RegisterBrokerHeader {
	return RegisterBrokerHeader{BrokerName: "broker-a", BrokerAddr: "127.0.0.1:10911", ClusterName: "DefaultCluster",
		HAServerAddr: "127.0.0.1:10912", BrokerID: 0}
}

func registerBody(counter int64, configs ...body.TopicConfig) body.RegisterBrokerBody {
	return body.RegisterBrokerBody{TopicConfigSerializeWrapper: table(counter, configs...)}
}

func routeRequest(topic string) *protocol.Command {
	return protocol.NewRequest(protocol.GetRouteInfoByTopic, protocol.FieldsOf("topic", topic), nil)
}

func expectCode(t *testing.T, resp *protocol.Command, code int32, remark string) {
	t.Helper()
	if resp.Code != code || (remark != "" && resp.Remark != remark) {
		t.Fatalf("response %s %q, want %s %q", protocol.ResponseName(resp.Code), resp.Remark,
			protocol.ResponseName(code), remark)
	}
}

func TestRegisterAndRoute(t *testing.T) {
	checkGoroutines(t)
	f := startNamesrv(t, Options{})
	broker, client := newClient(t), newClient(t)

	for _, compressed := range []bool{false, true} {
		h := brokerA()
		h.Compressed = compressed
		resp := invoke(t, broker, f.addr, NewRegisterBrokerRequest(h, registerBody(1, tc("TopicTest", 4))))
		master, ha, err := ParseRegisterBrokerResponse(resp)
		if err != nil || master != "" || ha != "" || resp.Body != nil {
			t.Fatalf("compressed=%v: register answered (%q, %q, %v) body %q", compressed, master, ha, err, resp.Body)
		}
	}

	resp := invoke(t, client, f.addr, routeRequest("TopicTest"))
	expectCode(t, resp, protocol.Success, "")
	want := `{"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}],` +
		`"brokerDatas":[{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"127.0.0.1:10911"}}],` +
		`"filterServerTable":{}}`
	if string(resp.Body) != want {
		t.Errorf("route body\n %s\nwant\n %s", resp.Body, want)
	}

	resp = invoke(t, client, f.addr, routeRequest("Unknown"))
	expectCode(t, resp, protocol.TopicNotExist, "No topic route info in name server for the topic: Unknown")
}

// goClientBrokerAddrs parses brokerAddrs the way the Go client v2.1.2 does
// (spec 6.1): the text between the braces, split on ',', each item split at
// its first ':', every '"' deleted.
func goClientBrokerAddrs(raw string) map[int64]string {
	out := make(map[int64]string)
	for _, item := range strings.Split(raw[1:len(raw)-1], ",") {
		i := strings.Index(item, ":")
		if i < 0 {
			continue
		}
		id, _ := strconv.ParseInt(strings.ReplaceAll(item[:i], `"`, ""), 10, 64)
		out[id] = strings.ReplaceAll(item[i+1:], `"`, "")
	}
	return out
}

func TestGoClientParsesBrokerAddrs(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	brokers := []RegisterBrokerHeader{
		{BrokerName: "broker-a", BrokerAddr: "192.168.1.10:10911", ClusterName: "c1", HAServerAddr: "x", BrokerID: 0},
		{BrokerName: "broker-a", BrokerAddr: "[::1]:10911", ClusterName: "c1", HAServerAddr: "x", BrokerID: 1},
		{BrokerName: "broker-a", BrokerAddr: "192.168.1.12:10911", ClusterName: "c1", HAServerAddr: "x", BrokerID: 12},
	}
	for _, h := range brokers {
		_, _, err := ParseRegisterBrokerResponse(invoke(t, c, f.addr, NewRegisterBrokerRequest(h, registerBody(1, tc("T", 1)))))
		if err != nil {
			t.Fatal(err)
		}
	}
	resp := invoke(t, c, f.addr, routeRequest("T"))
	expectCode(t, resp, protocol.Success, "")
	var raw struct {
		BrokerDatas []struct {
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(resp.Body, &raw); err != nil || len(raw.BrokerDatas) != 1 {
		t.Fatalf("route %s: %v", resp.Body, err)
	}
	got := goClientBrokerAddrs(string(raw.BrokerDatas[0].BrokerAddrs))
	want := map[int64]string{0: "192.168.1.10:10911", 1: "[::1]:10911", 12: "192.168.1.12:10911"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Go client would read %v from %s, want %v", got, raw.BrokerDatas[0].BrokerAddrs, want)
	}
}

func TestSlaveLearnsMaster(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	invoke(t, c, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1)))
	s := brokerA()
	s.BrokerAddr, s.HAServerAddr, s.BrokerID = "127.0.0.2:10911", "127.0.0.2:10912", 1
	resp := invoke(t, c, f.addr, NewRegisterBrokerRequest(s, registerBody(1)))
	master, ha, err := ParseRegisterBrokerResponse(resp)
	if err != nil || master != "127.0.0.1:10911" || ha != "127.0.0.1:10912" {
		t.Errorf("slave got (%q, %q, %v)", master, ha, err)
	}
}

func TestConnectionCloseRemovesBroker(t *testing.T) {
	checkGoroutines(t)
	f := startNamesrv(t, Options{})
	client := newClient(t)
	broker := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	invoke(t, broker, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("TopicTest", 4))))
	expectCode(t, invoke(t, client, f.addr, routeRequest("TopicTest")), protocol.Success, "")

	broker.Close()
	// BrokerExpiry is an hour and the scanner is not running: only the
	// closed connection can remove the broker.
	waitFor(t, "the route to disappear", func() bool {
		return invoke(t, client, f.addr, routeRequest("TopicTest")).Code == protocol.TopicNotExist
	})
	resp := invoke(t, client, f.addr, protocol.NewRequest(protocol.GetBrokerClusterInfo, nil, nil))
	if want := `{"brokerAddrTable":{},"clusterAddrTable":{}}`; string(resp.Body) != want {
		t.Errorf("cluster info %s, want %s", resp.Body, want)
	}
}

func TestReRegistrationSurvivesOldConnectionClose(t *testing.T) {
	f := startNamesrv(t, Options{})
	client := newClient(t)
	oldConn := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	newConn := newClient(t)
	invoke(t, oldConn, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("TopicTest", 4))))
	invoke(t, newConn, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("TopicTest", 4))))
	oldConn.Close()
	waitFor(t, "the server to see the old connection close", func() bool {
		f.ns.mu.RLock()
		defer f.ns.mu.RUnlock()
		return len(f.ns.mu.connAddrs) == 1
	})
	expectCode(t, invoke(t, client, f.addr, routeRequest("TopicTest")), protocol.Success, "")

	newConn.Close()
	waitFor(t, "the route to disappear", func() bool {
		return invoke(t, client, f.addr, routeRequest("TopicTest")).Code == protocol.TopicNotExist
	})
}

func TestUnregisterBroker(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	invoke(t, c, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("TopicTest", 4))))
	expectCode(t, invoke(t, c, f.addr, NewUnregisterBrokerRequest(brokerA())), protocol.Success, "")
	expectCode(t, invoke(t, c, f.addr, routeRequest("TopicTest")), protocol.TopicNotExist, "")
	f.ns.mu.RLock()
	defer f.ns.mu.RUnlock()
	if len(f.ns.mu.owner) != 0 || len(f.ns.mu.connAddrs) != 0 {
		t.Errorf("ownership kept after unregister: %v %v", f.ns.mu.owner, f.ns.mu.connAddrs)
	}
}

func TestRegisterBrokerErrors(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	good := func() *protocol.Command { return NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("T", 1))) }
	withBody := func(b []byte, compressed bool) *protocol.Command {
		cmd := good()
		cmd.Body = b
		cmd.Ext.SetBool("compressed", compressed)
		cmd.Ext.SetInt("bodyCrc32", int64(bodyCRC32(b)))
		return cmd
	}
	tests := []struct {
		name   string
		req    *protocol.Command
		remark string // exact, or a prefix when it ends in "…"
	}{
		{"bad crc", func() *protocol.Command {
			cmd := good()
			cmd.Ext.SetInt("bodyCrc32", int64(bodyCRC32(cmd.Body)^1))
			return cmd
		}(), "crc32 not match"},
		{"body changed after the crc", func() *protocol.Command {
			cmd := good()
			cmd.Body = append([]byte(nil), cmd.Body...)
			cmd.Body[len(cmd.Body)-2] = ' '
			return cmd
		}(), "crc32 not match"},
		{"missing brokerId", func() *protocol.Command {
			cmd := good()
			cmd.Ext.Del("brokerId")
			return cmd
		}(), "the custom field <brokerId> is null"},
		{"missing brokerAddr", func() *protocol.Command {
			cmd := good()
			cmd.Ext.Del("brokerAddr")
			return cmd
		}(), "the custom field <brokerAddr> is null"},
		{"bad brokerId", func() *protocol.Command {
			cmd := good()
			cmd.Ext.Set("brokerId", "one")
			return cmd
		}(), `the custom field <brokerId> has invalid value "one": want int64`},
		{"negative brokerId", func() *protocol.Command {
			cmd := good()
			cmd.Ext.SetInt("brokerId", -1)
			return cmd
		}(), "the brokerId -1 is negative"},
		{"address with a space", func() *protocol.Command {
			cmd := good()
			cmd.Ext.Set("brokerAddr", " 127.0.0.1:10911")
			return cmd
		}(), `the brokerAddr " 127.0.0.1:10911" contains a character clients cannot parse (whitespace , " { })`},
		{"empty cluster", func() *protocol.Command {
			cmd := good()
			cmd.Ext.Set("clusterName", "")
			return cmd
		}(), "the clusterName is empty"},
		{"bad json body", withBody([]byte("{"), false), "namesrv: bad register broker body: …"},
		{"bad compressed body", withBody([]byte("{}"), true), "namesrv: bad register broker body: compressed: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(t, c, f.addr, tt.req)
			prefix, isPrefix := strings.CutSuffix(tt.remark, "…")
			ok := resp.Remark == tt.remark || isPrefix && strings.HasPrefix(resp.Remark, prefix)
			if resp.Code != protocol.SystemError || !ok {
				t.Errorf("got %s %q, want SYSTEM_ERROR %q", protocol.ResponseName(resp.Code), resp.Remark, tt.remark)
			}
		})
	}
	expectCode(t, invoke(t, c, f.addr, routeRequest("T")), protocol.TopicNotExist, "")
}
