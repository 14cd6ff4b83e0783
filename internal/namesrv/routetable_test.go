package namesrv

import (
	"reflect"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	addrA  = "10.0.0.1:10911"
	addrA1 = "10.0.0.2:10911" // broker-a's slave
	addrB  = "10.0.0.3:10911"
)

// tc is a topic config with equal read and write queues.
func tc(name string, queues int32) body.TopicConfig {
	return body.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues,
		Perm: body.PermRead | body.PermWrite, TopicFilterType: "SINGLE_TAG"}
}

// table is a broker's topic table at a data version.
func table(counter int64, configs ...body.TopicConfig) body.TopicConfigSerializeWrapper {
	w := body.TopicConfigSerializeWrapper{
		DataVersion:      body.DataVersion{Counter: counter, Timestamp: 1700000000000},
		TopicConfigTable: make(map[string]body.TopicConfig),
	}
	for _, c := range configs {
		w.TopicConfigTable[c.TopicName] = c
	}
	return w
}

func qd(broker string, queues int32) body.QueueData {
	return body.QueueData{BrokerName: broker, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
}

func bd(cluster, broker string, addrs map[int64]string) body.BrokerData {
	return body.BrokerData{Cluster: cluster, BrokerName: broker, BrokerAddrs: addrs}
}

func route(qds []body.QueueData, bds ...body.BrokerData) *body.TopicRouteData {
	return &body.TopicRouteData{QueueDatas: qds, BrokerDatas: bds, FilterServerTable: map[string][]string{}}
}

// Shorthands for the steps of the table tests.
func master(cluster, broker, addr string, w body.TopicConfigSerializeWrapper, at time.Time) func(*RouteTable) {
	return func(rt *RouteTable) { rt.RegisterBroker(cluster, broker, addr, addr+"-ha", 0, w, at) }
}

func slave(cluster, broker, addr string, id int64, w body.TopicConfigSerializeWrapper, at time.Time) func(*RouteTable) {
	return func(rt *RouteTable) { rt.RegisterBroker(cluster, broker, addr, addr+"-ha", id, w, at) }
}

func TestRouteTable(t *testing.T) {
	tests := []struct {
		name  string
		steps []func(*RouteTable)
		want  map[string]*body.TopicRouteData // topic → route; nil = TOPIC_NOT_EXIST
	}{
		{
			name:  "master registers its topics",
			steps: []func(*RouteTable){master("c1", "broker-a", addrA, table(1, tc("T1", 4), tc("T2", 8)), t0)},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
				"T2": route([]body.QueueData{qd("broker-a", 8)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
				"T3": nil,
			},
		},
		{
			name: "slave adds its address but not its topics",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				slave("c1", "broker-a", addrA1, 1, table(1, tc("T1", 16), tc("T3", 4)), t0),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{0: addrA, 1: addrA1})),
				"T3": nil,
			},
		},
		{
			name:  "a slave alone gives no route",
			steps: []func(*RouteTable){slave("c1", "broker-a", addrA1, 1, table(1, tc("T1", 4)), t0)},
			want:  map[string]*body.TopicRouteData{"T1": nil},
		},
		{
			name: "same data version: a changed table is ignored",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				master("c1", "broker-a", addrA, table(1, tc("T1", 8), tc("T2", 4)), t0.Add(time.Second)),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
				"T2": nil,
			},
		},
		{
			name: "new data version upserts and keeps topics it no longer lists",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				master("c1", "broker-a", addrA, table(2, tc("T1", 8), tc("T2", 4)), t0.Add(time.Second)),
				master("c1", "broker-a", addrA, table(3, tc("T2", 2)), t0.Add(2*time.Second)),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 8)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
				"T2": route([]body.QueueData{qd("broker-a", 2)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
			},
		},
		{
			name: "slave promoted to master: leaves id 1 and applies its table at the same version",
			steps: []func(*RouteTable){
				slave("c1", "broker-a", addrA1, 1, table(5, tc("T1", 4)), t0),
				master("c1", "broker-a", addrA1, table(5, tc("T1", 4)), t0.Add(time.Second)),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{0: addrA1})),
			},
		},
		{
			name: "two brokers of one cluster host one topic",
			steps: []func(*RouteTable){
				master("c1", "broker-b", addrB, table(1, tc("T1", 2)), t0),
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4), qd("broker-b", 2)},
					bd("c1", "broker-a", map[int64]string{0: addrA}), bd("c1", "broker-b", map[int64]string{0: addrB})),
			},
		},
		{
			name: "closing one of two brokers' connections keeps the topic on the other",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4), tc("TA", 1)), t0),
				master("c1", "broker-b", addrB, table(1, tc("T1", 2)), t0),
				func(rt *RouteTable) { rt.RemoveBrokerAddr(addrA) },
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-b", 2)}, bd("c1", "broker-b", map[int64]string{0: addrB})),
				"TA": nil,
			},
		},
		{
			name: "master gone, slave left: queues stay readable from the slave",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				slave("c1", "broker-a", addrA1, 1, table(1), t0),
				func(rt *RouteTable) { rt.RemoveBrokerAddr(addrA) },
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{1: addrA1})),
			},
		},
		{
			name: "unregister cleans up like a dead broker",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				func(rt *RouteTable) { rt.UnregisterBroker("c1", "broker-a", addrA, 0) },
			},
			want: map[string]*body.TopicRouteData{"T1": nil},
		},
		{
			name: "unregister naming another broker removes nothing",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				func(rt *RouteTable) { rt.UnregisterBroker("c1", "broker-b", addrA, 0) },
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c1", "broker-a", map[int64]string{0: addrA})),
			},
		},
		{
			name: "delete topic in one cluster only",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4), tc("T2", 4)), t0),
				master("c2", "broker-b", addrB, table(1, tc("T1", 2), tc("T2", 2)), t0),
				func(rt *RouteTable) { rt.DeleteTopic("T1", "c1") },
				func(rt *RouteTable) { rt.DeleteTopic("T2", "") },
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-b", 2)}, bd("c2", "broker-b", map[int64]string{0: addrB})),
				"T2": nil,
			},
		},
		{
			name: "expiry removes only the stale broker",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				master("c1", "broker-b", addrB, table(1, tc("T1", 2)), t0.Add(100*time.Second)),
				func(rt *RouteTable) { rt.ExpireBrokers(t0.Add(121*time.Second), 120*time.Second) },
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-b", 2)}, bd("c1", "broker-b", map[int64]string{0: addrB})),
			},
		},
		{
			name: "a broker name moves to another cluster",
			steps: []func(*RouteTable){
				master("c1", "broker-a", addrA, table(1, tc("T1", 4)), t0),
				master("c2", "broker-a", addrA, table(1, tc("T1", 4)), t0),
			},
			want: map[string]*body.TopicRouteData{
				"T1": route([]body.QueueData{qd("broker-a", 4)}, bd("c2", "broker-a", map[int64]string{0: addrA})),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := NewRouteTable()
			for _, step := range tt.steps {
				step(rt)
			}
			for topic, want := range tt.want {
				got, ok := rt.Route(topic)
				if want == nil {
					if ok {
						t.Errorf("Route(%s) = %+v, want none", topic, got)
					}
					continue
				}
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("Route(%s) =\n %s (%v)\nwant\n %s", topic, body.Marshal(got), ok, body.Marshal(want))
				}
			}
		})
	}
}

func TestRegisterBrokerReturnsMaster(t *testing.T) {
	rt := NewRouteTable()
	m, ha := rt.RegisterBroker("c1", "broker-a", addrA1, "ha-a1", 1, table(1), t0)
	if m != "" || ha != "" {
		t.Errorf("slave before master got (%q, %q), want empty", m, ha)
	}
	m, ha = rt.RegisterBroker("c1", "broker-a", addrA, "ha-a", 0, table(1), t0)
	if m != "" || ha != "" {
		t.Errorf("master got (%q, %q), want empty", m, ha)
	}
	m, ha = rt.RegisterBroker("c1", "broker-a", addrA1, "ha-a1", 1, table(1), t0)
	if m != addrA || ha != "ha-a" {
		t.Errorf("slave got (%q, %q), want (%q, %q)", m, ha, addrA, "ha-a")
	}
}

func TestExpireBrokers(t *testing.T) {
	rt := NewRouteTable()
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1, tc("T1", 1)), t0)
	rt.RegisterBroker("c1", "broker-a", addrA1, "", 1, table(1), t0.Add(10*time.Second))
	rt.RegisterBroker("c1", "broker-b", addrB, "", 0, table(1, tc("T1", 1)), t0.Add(20*time.Second))
	const maxAge = 120 * time.Second

	steps := []struct {
		now  time.Time
		want []string
	}{
		{t0.Add(maxAge), nil}, // exactly maxAge old: still alive
		{t0.Add(maxAge + time.Millisecond), []string{addrA}},
		{t0.Add(maxAge + 15*time.Second), []string{addrA1}},
		{t0.Add(maxAge + 15*time.Second), nil},
		{t0.Add(time.Hour), []string{addrB}},
	}
	for i, s := range steps {
		if got := rt.ExpireBrokers(s.now, maxAge); !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: ExpireBrokers(%v) = %v, want %v", i, s.now.Sub(t0), got, s.want)
		}
	}
	if info := rt.ClusterInfo(); len(info.BrokerAddrTable) != 0 || len(info.ClusterAddrTable) != 0 {
		t.Errorf("cluster info after expiry = %s, want empty", body.Marshal(info))
	}
	if topics := rt.Topics(); len(topics) != 0 {
		t.Errorf("topics after expiry = %v", topics)
	}
}

func TestRegistrationRefreshesLiveness(t *testing.T) {
	rt := NewRouteTable()
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1), t0)
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1), t0.Add(100*time.Second))
	if got := rt.ExpireBrokers(t0.Add(200*time.Second), 120*time.Second); got != nil {
		t.Fatalf("expired %v although refreshed at 100 s", got)
	}
	if last, ok := rt.BrokerLive(addrA); !ok || !last.Equal(t0.Add(100*time.Second)) {
		t.Errorf("BrokerLive = %v, %v", last, ok)
	}
}

func TestClusterInfoAndTopicLists(t *testing.T) {
	rt := NewRouteTable()
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1, tc("T1", 1), tc("TA", 1)), t0)
	rt.RegisterBroker("c1", "broker-a", addrA1, "", 1, table(1), t0)
	rt.RegisterBroker("c2", "broker-b", addrB, "", 0, table(1, tc("T1", 1), tc("TB", 1)), t0)

	want := body.ClusterInfo{
		BrokerAddrTable: map[string]body.BrokerData{
			"broker-a": bd("c1", "broker-a", map[int64]string{0: addrA, 1: addrA1}),
			"broker-b": bd("c2", "broker-b", map[int64]string{0: addrB}),
		},
		ClusterAddrTable: map[string][]string{"c1": {"broker-a"}, "c2": {"broker-b"}},
	}
	if got := rt.ClusterInfo(); !reflect.DeepEqual(got, want) {
		t.Errorf("ClusterInfo =\n %s\nwant\n %s", body.Marshal(got), body.Marshal(want))
	}
	lists := []struct {
		name      string
		got, want []string
	}{
		{"Topics", rt.Topics(), []string{"T1", "TA", "TB"}},
		{"TopicsByCluster(c1)", rt.TopicsByCluster("c1"), []string{"T1", "TA"}},
		{"TopicsByCluster(c2)", rt.TopicsByCluster("c2"), []string{"T1", "TB"}},
		{"TopicsByCluster(none)", rt.TopicsByCluster("none"), []string{}},
	}
	for _, l := range lists {
		if !reflect.DeepEqual(l.got, l.want) {
			t.Errorf("%s = %#v, want %#v", l.name, l.got, l.want)
		}
	}
	if got := NewRouteTable().Topics(); got == nil || len(got) != 0 {
		t.Errorf("empty table Topics() = %#v, want empty non-nil", got)
	}
}

func TestRouteIsACopy(t *testing.T) {
	rt := NewRouteTable()
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1, tc("T1", 4)), t0)
	r, _ := rt.Route("T1")
	r.BrokerDatas[0].BrokerAddrs[0] = "evil:1"
	r.QueueDatas[0].ReadQueueNums = 99
	info := rt.ClusterInfo()
	info.BrokerAddrTable["broker-a"].BrokerAddrs[0] = "evil:2"
	again, _ := rt.Route("T1")
	if again.BrokerDatas[0].BrokerAddrs[0] != addrA || again.QueueDatas[0].ReadQueueNums != 4 {
		t.Errorf("route changed through a returned copy: %s", body.Marshal(again))
	}
}

func TestDeleteTopicReports(t *testing.T) {
	rt := NewRouteTable()
	rt.RegisterBroker("c1", "broker-a", addrA, "", 0, table(1, tc("T1", 4)), t0)
	if rt.DeleteTopic("T1", "c2") {
		t.Error("deleting in a cluster without the topic reported a removal")
	}
	if rt.DeleteTopic("nope", "") {
		t.Error("deleting an unknown topic reported a removal")
	}
	if !rt.DeleteTopic("T1", "c1") {
		t.Error("deleting the topic in its cluster reported nothing")
	}
	if _, ok := rt.Route("T1"); ok {
		t.Error("topic still routed after deletion")
	}
}
