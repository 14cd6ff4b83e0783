package namesrv

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

func TestRouteRequestErrors(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	tests := []struct {
		name   string
		req    *protocol.Command
		code   int32
		remark string
	}{
		{"missing topic", protocol.NewRequest(protocol.GetRouteInfoByTopic, nil, nil),
			protocol.SystemError, "the custom field <topic> is null"},
		{"invalid topic", routeRequest("a.b"), protocol.SystemError,
			`invalid topic: the topic name "a.b" contains '.'; allowed are letters, digits, %, |, _ and -`},
		{"unknown topic", routeRequest("Nope"), protocol.TopicNotExist,
			"No topic route info in name server for the topic: Nope"},
		{"unknown code", protocol.NewRequest(protocol.PullMessage, nil, nil), protocol.RequestCodeNotSupported,
			" request type 11 not supported"},
		{"delete topic without topic", protocol.NewRequest(protocol.DeleteTopicInNamesrv, nil, nil),
			protocol.SystemError, "the custom field <topic> is null"},
		{"delete invalid topic", protocol.NewRequest(protocol.DeleteTopicInNamesrv, protocol.FieldsOf("topic", ""), nil),
			protocol.SystemError, "invalid topic: the topic name is empty"},
		{"topics by cluster without cluster", protocol.NewRequest(protocol.GetTopicsByCluster, nil, nil),
			protocol.SystemError, "the custom field <cluster> is null"},
		{"unregister without brokerId", protocol.NewRequest(protocol.UnregisterBroker,
			protocol.FieldsOf("brokerName", "b", "brokerAddr", "a:1", "clusterName", "c"), nil),
			protocol.SystemError, "the custom field <brokerId> is null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectCode(t, invoke(t, c, f.addr, tt.req), tt.code, tt.remark)
		})
	}
}

func TestTopicAndClusterRequests(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	a := brokerA()
	b := RegisterBrokerHeader{BrokerName: "broker-b", BrokerAddr: "127.0.0.3:10911", ClusterName: "other",
		HAServerAddr: "127.0.0.3:10912", BrokerID: 0}
	invoke(t, c, f.addr, NewRegisterBrokerRequest(a, registerBody(1, tc("Shared", 4), tc("OnlyA", 1))))
	invoke(t, c, f.addr, NewRegisterBrokerRequest(b, registerBody(1, tc("Shared", 2))))

	topicList := func(req *protocol.Command) []string {
		t.Helper()
		resp := invoke(t, c, f.addr, req)
		expectCode(t, resp, protocol.Success, "")
		var l body.TopicList
		if err := json.Unmarshal(resp.Body, &l); err != nil {
			t.Fatalf("%s: %v", resp.Body, err)
		}
		return l.TopicList
	}
	all := protocol.NewRequest(protocol.GetAllTopicListFromNameServer, nil, nil)
	byCluster := func(cl string) *protocol.Command {
		return protocol.NewRequest(protocol.GetTopicsByCluster, protocol.FieldsOf("cluster", cl), nil)
	}
	if got := topicList(all); !reflect.DeepEqual(got, []string{"OnlyA", "Shared"}) {
		t.Errorf("all topics = %v", got)
	}
	if got := topicList(byCluster("other")); !reflect.DeepEqual(got, []string{"Shared"}) {
		t.Errorf("topics of cluster other = %v", got)
	}

	resp := invoke(t, c, f.addr, protocol.NewRequest(protocol.GetBrokerClusterInfo, nil, nil))
	want := `{"brokerAddrTable":{` +
		`"broker-a":{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"127.0.0.1:10911"}},` +
		`"broker-b":{"cluster":"other","brokerName":"broker-b","brokerAddrs":{"0":"127.0.0.3:10911"}}},` +
		`"clusterAddrTable":{"DefaultCluster":["broker-a"],"other":["broker-b"]}}`
	if string(resp.Body) != want {
		t.Errorf("cluster info\n %s\nwant\n %s", resp.Body, want)
	}

	del := protocol.NewRequest(protocol.DeleteTopicInNamesrv, protocol.FieldsOf("topic", "Shared", "clusterName", "DefaultCluster"), nil)
	expectCode(t, invoke(t, c, f.addr, del), protocol.Success, "")
	resp = invoke(t, c, f.addr, routeRequest("Shared"))
	if !strings.Contains(string(resp.Body), `"queueDatas":[{"brokerName":"broker-b"`) || strings.Contains(string(resp.Body), "broker-a") {
		t.Errorf("route after deleting in DefaultCluster: %s", resp.Body)
	}
	del = protocol.NewRequest(protocol.DeleteTopicInNamesrv, protocol.FieldsOf("topic", "Shared"), nil)
	expectCode(t, invoke(t, c, f.addr, del), protocol.Success, "")
	expectCode(t, invoke(t, c, f.addr, routeRequest("Shared")), protocol.TopicNotExist, "")
	if got := topicList(all); !reflect.DeepEqual(got, []string{"OnlyA"}) {
		t.Errorf("all topics after deletion = %v", got)
	}
	if got := topicList(byCluster("other")); got == nil || len(got) != 0 {
		t.Errorf("topics of cluster other after deletion = %#v, want []", got)
	}
}

func TestRegisterDropsInvalidTopicNames(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	rb := registerBody(1, tc("Good", 4), tc("bad.name", 4))
	rb.TopicConfigSerializeWrapper.TopicConfigTable["KeyOnly"] = body.TopicConfig{ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}
	_, _, err := ParseRegisterBrokerResponse(invoke(t, c, f.addr, NewRegisterBrokerRequest(brokerA(), rb)))
	if err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, c, f.addr, protocol.NewRequest(protocol.GetAllTopicListFromNameServer, nil, nil))
	if want := `{"topicList":["Good","KeyOnly"]}`; string(resp.Body) != want {
		t.Errorf("topics %s, want %s", resp.Body, want)
	}
}

func TestKVConfig(t *testing.T) {
	f := startNamesrv(t, Options{})
	c := newClient(t)
	kv := func(code int32, kvs ...string) *protocol.Command {
		return invoke(t, c, f.addr, protocol.NewRequest(code, protocol.FieldsOf(kvs...), nil))
	}
	expectCode(t, kv(protocol.GetKVConfig, "namespace", "NS", "key", "k"), protocol.QueryNotFound,
		"No config item, Namespace: NS Key: k")
	expectCode(t, kv(protocol.GetKVListByNamespace, "namespace", "NS"), protocol.QueryNotFound,
		"No config item, Namespace: NS")
	expectCode(t, kv(protocol.PutKVConfig, "namespace", "NS", "key", "k"), protocol.SystemError,
		"the custom field <value> is null")
	expectCode(t, kv(protocol.PutKVConfig, "namespace", "NS", "key", "k", "value", "v1"), protocol.Success, "")
	expectCode(t, kv(protocol.PutKVConfig, "namespace", "NS", "key", "k", "value", "v2"), protocol.Success, "")
	expectCode(t, kv(protocol.PutKVConfig, "namespace", "NS", "key", "j", "value", "w"), protocol.Success, "")

	resp := kv(protocol.GetKVConfig, "namespace", "NS", "key", "k")
	expectCode(t, resp, protocol.Success, "")
	if v, ok := resp.Ext.Lookup("value"); !ok || v != "v2" {
		t.Errorf("value = %q, %v", v, ok)
	}
	resp = kv(protocol.GetKVListByNamespace, "namespace", "NS")
	if want := `{"table":{"j":"w","k":"v2"}}`; resp.Code != protocol.Success || string(resp.Body) != want {
		t.Errorf("kv list %s %s, want %s", protocol.ResponseName(resp.Code), resp.Body, want)
	}
	expectCode(t, kv(protocol.DeleteKVConfig, "namespace", "NS", "key", "k"), protocol.Success, "")
	expectCode(t, kv(protocol.DeleteKVConfig, "namespace", "NS", "key", "k"), protocol.Success, "")
	expectCode(t, kv(protocol.GetKVConfig, "namespace", "NS", "key", "k"), protocol.QueryNotFound, "")
	expectCode(t, kv(protocol.DeleteKVConfig, "namespace", "NS", "key", "j"), protocol.Success, "")
	expectCode(t, kv(protocol.GetKVListByNamespace, "namespace", "NS"), protocol.QueryNotFound, "")
}

func TestExpiryScanner(t *testing.T) {
	checkGoroutines(t)
	clock := &fakeClock{now: t0}
	f := startNamesrv(t, Options{Now: clock.Now, BrokerExpiry: 120 * time.Second, ScanInterval: time.Millisecond})
	f.ns.Start()
	broker, client := newClient(t), newClient(t)
	invoke(t, broker, f.addr, NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("TopicTest", 4))))

	clock.Advance(120 * time.Second) // exactly the expiry: still alive
	// The second scan finishing from now started after the advance.
	next := f.ns.scans.Load() + 2
	waitFor(t, "two scans", func() bool { return f.ns.scans.Load() >= next })
	expectCode(t, invoke(t, client, f.addr, routeRequest("TopicTest")), protocol.Success, "")

	clock.Advance(time.Millisecond)
	waitFor(t, "the broker to expire", func() bool {
		return invoke(t, client, f.addr, routeRequest("TopicTest")).Code == protocol.TopicNotExist
	})
	f.ns.mu.RLock()
	defer f.ns.mu.RUnlock()
	if len(f.ns.mu.owner) != 0 || len(f.ns.mu.connAddrs) != 0 {
		t.Errorf("ownership kept after expiry: %v %v", f.ns.mu.owner, f.ns.mu.connAddrs)
	}
}

func TestStartCloseLeavesNoGoroutines(t *testing.T) {
	checkGoroutines(t)
	ns := New(Options{Logger: quietLogger(), ScanInterval: time.Millisecond})
	ns.Start()
	ns.Start()
	ns.Close()
	ns.Close()
	ns.Start() // after Close: does nothing

	New(Options{Logger: quietLogger()}).Close() // never started
}

// TestServeWithoutConn drives the handler in process, as the fuzz target
// does: requests without a connection register without an owner.
func TestServeWithoutConn(t *testing.T) {
	ns := New(Options{Logger: quietLogger()})
	resp := ns.ServeRemoting(&remoting.Request{Cmd: NewRegisterBrokerRequest(brokerA(), registerBody(1, tc("T", 1)))})
	expectCode(t, resp, protocol.Success, "")
	resp = ns.ServeRemoting(&remoting.Request{Cmd: routeRequest("T")})
	expectCode(t, resp, protocol.Success, "")
}
