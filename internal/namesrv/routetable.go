package namesrv

import (
	"maps"
	"slices"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
)

// MasterID is the broker id of a master; slaves have ids of 1 and above.
const MasterID int64 = 0

// RouteTable is the name server's routing state (RocketMQ's
// RouteInfoManager) without locks, goroutines or clocks: callers pass the
// time in and serialize access. The zero value is not usable; call
// NewRouteTable.
type RouteTable struct {
	clusters map[string]map[string]struct{}       // cluster → broker names
	brokers  map[string]*brokerEntry              // broker name → addresses
	topics   map[string]map[string]body.QueueData // topic → broker name → queues
	live     map[string]liveBroker                // broker address → liveness
}

type brokerEntry struct {
	cluster string
	addrs   map[int64]string // broker id → address
}

// liveBroker is what the table remembers of an address's last registration.
type liveBroker struct {
	lastUpdate   time.Time
	dataVersion  body.DataVersion
	haServerAddr string
}

// NewRouteTable returns an empty table.
func NewRouteTable() *RouteTable {
	return &RouteTable{
		clusters: make(map[string]map[string]struct{}),
		brokers:  make(map[string]*brokerEntry),
		topics:   make(map[string]map[string]body.QueueData),
		live:     make(map[string]liveBroker),
	}
}

// RegisterBroker records a broker's registration at now (RocketMQ's
// registerBroker). The address takes the id brokerID under brokerName,
// leaving any other id it had there. For a master the topic table is applied
// when its DataVersion differs from the address's last registration or this
// is the first registration of the name or id: a QueueData is upserted for
// every topic; topics absent from the table keep their queue data, as in
// RocketMQ (petrel's broker deletes topics with DELETE_TOPIC_IN_NAMESRV).
// Topic names are taken as given; the caller validates them. A slave gets
// its live master's address and HA address back; a master gets "", "".
//
// A broker name that registers under another cluster moves to it (RocketMQ
// would list it in both clusters).
func (t *RouteTable) RegisterBroker(clusterName, brokerName, brokerAddr, haServerAddr string, brokerID int64,
	topics body.TopicConfigSerializeWrapper, now time.Time) (masterAddr, masterHAServerAddr string) {
	b := t.brokers[brokerName]
	first := b == nil
	if first {
		b = &brokerEntry{cluster: clusterName, addrs: make(map[int64]string)}
		t.brokers[brokerName] = b
	} else if b.cluster != clusterName {
		t.leaveCluster(b.cluster, brokerName)
		b.cluster = clusterName
	}
	t.joinCluster(clusterName, brokerName)

	for id, addr := range b.addrs {
		if addr == brokerAddr && id != brokerID {
			delete(b.addrs, id) // a slave promoted to master, or the reverse
		}
	}
	_, hadID := b.addrs[brokerID]
	b.addrs[brokerID] = brokerAddr
	first = first || !hadID

	prev, known := t.live[brokerAddr]
	if brokerID == MasterID && (first || !known || prev.dataVersion != topics.DataVersion) {
		for key, tc := range topics.TopicConfigTable {
			t.upsertQueueData(topicName(key, tc), brokerName, tc)
		}
	}
	t.live[brokerAddr] = liveBroker{lastUpdate: now, dataVersion: topics.DataVersion, haServerAddr: haServerAddr}

	if brokerID != MasterID {
		if m, ok := b.addrs[MasterID]; ok {
			if l, ok := t.live[m]; ok {
				return m, l.haServerAddr
			}
		}
	}
	return "", ""
}

// topicName is a topic table entry's name: TopicConfig.topicName, as Java
// uses, or the map key when the config does not repeat it.
func topicName(key string, tc body.TopicConfig) string {
	if tc.TopicName != "" {
		return tc.TopicName
	}
	return key
}

func (t *RouteTable) upsertQueueData(topic, brokerName string, tc body.TopicConfig) {
	q := t.topics[topic]
	if q == nil {
		q = make(map[string]body.QueueData)
		t.topics[topic] = q
	}
	q[brokerName] = body.QueueData{
		BrokerName:     brokerName,
		ReadQueueNums:  tc.ReadQueueNums,
		WriteQueueNums: tc.WriteQueueNums,
		Perm:           tc.Perm,
		TopicSysFlag:   tc.TopicSysFlag,
	}
}

func (t *RouteTable) joinCluster(cluster, brokerName string) {
	names := t.clusters[cluster]
	if names == nil {
		names = make(map[string]struct{})
		t.clusters[cluster] = names
	}
	names[brokerName] = struct{}{}
}

func (t *RouteTable) leaveCluster(cluster, brokerName string) {
	names := t.clusters[cluster]
	delete(names, brokerName)
	if len(names) == 0 {
		delete(t.clusters, cluster)
	}
}

// UnregisterBroker removes brokerAddr from brokerName (RocketMQ's
// unregisterBroker) with the cleanup of an expired broker. The address is
// removed under whatever id it has now, so a slave promoted since its last
// registration still leaves; clusterName and brokerID are accepted for the
// request's sake, and the broker's recorded cluster is the one cleaned up.
// Liveness of the address is forgotten once no broker name lists it. It
// reports whether anything was removed.
func (t *RouteTable) UnregisterBroker(clusterName, brokerName, brokerAddr string, brokerID int64) bool {
	removed := t.removeAddrFrom(brokerName, brokerAddr)
	if _, ok := t.live[brokerAddr]; ok && !t.listed(brokerAddr) {
		delete(t.live, brokerAddr)
		removed = true
	}
	return removed
}

// RemoveBrokerAddr removes a broker address everywhere (its connection
// closed: RocketMQ's onChannelDestroy). It reports whether the address was
// known.
func (t *RouteTable) RemoveBrokerAddr(addr string) bool {
	_, removed := t.live[addr]
	delete(t.live, addr)
	for name := range t.brokers {
		if t.removeAddrFrom(name, addr) {
			removed = true
		}
	}
	return removed
}

// ExpireBrokers removes every address whose last registration is more than
// maxAge before now and returns them sorted.
func (t *RouteTable) ExpireBrokers(now time.Time, maxAge time.Duration) []string {
	var expired []string
	for addr, l := range t.live {
		if now.Sub(l.lastUpdate) > maxAge {
			expired = append(expired, addr)
		}
	}
	slices.Sort(expired)
	for _, addr := range expired {
		t.RemoveBrokerAddr(addr)
	}
	return expired
}

// removeAddrFrom deletes addr from a broker name; a name left without
// addresses leaves its cluster and every topic, and topics left without
// queue data are deleted.
func (t *RouteTable) removeAddrFrom(brokerName, addr string) bool {
	b := t.brokers[brokerName]
	if b == nil {
		return false
	}
	removed := false
	for id, a := range b.addrs {
		if a == addr {
			delete(b.addrs, id)
			removed = true
		}
	}
	if len(b.addrs) > 0 {
		return removed
	}
	delete(t.brokers, brokerName)
	t.leaveCluster(b.cluster, brokerName)
	for topic, q := range t.topics {
		delete(q, brokerName)
		if len(q) == 0 {
			delete(t.topics, topic)
		}
	}
	return true
}

// listed reports whether any broker name lists addr.
func (t *RouteTable) listed(addr string) bool {
	for _, b := range t.brokers {
		for _, a := range b.addrs {
			if a == addr {
				return true
			}
		}
	}
	return false
}

// BrokerLive reports whether addr is registered and when it last
// registered.
func (t *RouteTable) BrokerLive(addr string) (lastUpdate time.Time, ok bool) {
	l, ok := t.live[addr]
	return l.lastUpdate, ok
}

// Route returns a copy of the topic's route: the queue data of the brokers
// hosting it and those brokers' addresses, both sorted by broker name. It
// reports false when the topic has no queue data or none of its brokers is
// registered.
func (t *RouteTable) Route(topic string) (*body.TopicRouteData, bool) {
	q := t.topics[topic]
	route := &body.TopicRouteData{
		QueueDatas:        []body.QueueData{},
		BrokerDatas:       []body.BrokerData{},
		FilterServerTable: map[string][]string{},
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		b := t.brokers[name]
		if b == nil {
			continue // cannot happen: removing a broker removes its queue data
		}
		route.QueueDatas = append(route.QueueDatas, q[name])
		route.BrokerDatas = append(route.BrokerDatas, b.data(name))
	}
	if len(route.BrokerDatas) == 0 {
		return nil, false
	}
	return route, true
}

func (b *brokerEntry) data(name string) body.BrokerData {
	return body.BrokerData{Cluster: b.cluster, BrokerName: name, BrokerAddrs: maps.Clone(b.addrs)}
}

// ClusterInfo returns a copy of the clusters and their brokers' addresses
// (GET_BROKER_CLUSTER_INFO); broker names are sorted.
func (t *RouteTable) ClusterInfo() body.ClusterInfo {
	info := body.ClusterInfo{
		BrokerAddrTable:  make(map[string]body.BrokerData, len(t.brokers)),
		ClusterAddrTable: make(map[string][]string, len(t.clusters)),
	}
	for name, b := range t.brokers {
		info.BrokerAddrTable[name] = b.data(name)
	}
	for cluster, names := range t.clusters {
		info.ClusterAddrTable[cluster] = slices.Sorted(maps.Keys(names))
	}
	return info
}

// Topics returns every topic with queue data, sorted.
func (t *RouteTable) Topics() []string {
	return append([]string{}, slices.Sorted(maps.Keys(t.topics))...)
}

// TopicsByCluster returns the topics with queue data on any broker of the
// cluster, sorted; an unknown cluster has none.
func (t *RouteTable) TopicsByCluster(cluster string) []string {
	names := t.clusters[cluster]
	out := []string{}
	for topic, q := range t.topics {
		for name := range q {
			if _, ok := names[name]; ok {
				out = append(out, topic)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// DeleteTopic removes a topic's queue data: from every broker when
// clusterName is "", else only from the brokers of that cluster. The topic
// disappears once no queue data is left. It reports whether anything was
// removed.
func (t *RouteTable) DeleteTopic(topic, clusterName string) bool {
	q, ok := t.topics[topic]
	if !ok {
		return false
	}
	if clusterName == "" {
		delete(t.topics, topic)
		return true
	}
	removed := false
	for name := range t.clusters[clusterName] {
		if _, ok := q[name]; ok {
			delete(q, name)
			removed = true
		}
	}
	if len(q) == 0 {
		delete(t.topics, topic)
	}
	return removed
}
