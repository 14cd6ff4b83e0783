package broker

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// clientChannel is one client connection known from its heartbeats.
type clientChannel struct {
	conn       *remoting.Conn
	clientID   string
	language   string
	version    int32
	lastUpdate time.Time
}

// subscription is a consumer group's subscription to one topic.
type subscription struct {
	data   body.SubscriptionData
	filter *tagFilter
}

// consumerGroupInfo is a consumer group's members and subscriptions
// (RocketMQ's ConsumerGroupInfo). Members are connections.
type consumerGroupInfo struct {
	name             string
	consumeType      string
	messageModel     string
	consumeFromWhere string
	channels         map[uint64]*clientChannel
	subs             map[string]*subscription
}

// clientRegistry tracks producers and consumers by connection (RocketMQ's
// ConsumerManager and ProducerManager).
type clientRegistry struct {
	mu        sync.Mutex
	consumers map[string]*consumerGroupInfo
	producers map[string]map[uint64]*clientChannel
}

func newClientRegistry() *clientRegistry {
	return &clientRegistry{consumers: make(map[string]*consumerGroupInfo), producers: make(map[string]map[uint64]*clientChannel)}
}

// groupChange names a consumer group whose membership or subscriptions
// changed, with the connections to notify.
type groupChange struct {
	group string
	conns []*remoting.Conn
}

// heartbeat registers hb from conn and returns the consumer groups that
// changed (a new member, or a topic added or removed).
//
// A heartbeat handled after its connection closed registers nothing: the
// close already removed the connection (its Closed channel is closed
// before the close is reported), and registering it again would leave a
// member nobody can reach in the group until it expires.
func (r *clientRegistry) heartbeat(conn *remoting.Conn, cmd *protocol.Command, hb *body.HeartbeatData, now time.Time) []groupChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-conn.Closed():
		return nil
	default:
	}
	ch := func() *clientChannel {
		return &clientChannel{conn: conn, clientID: hb.ClientID, language: cmd.Language, version: cmd.Version, lastUpdate: now}
	}
	var changes []groupChange
	for _, cd := range hb.ConsumerDataSet {
		g := r.consumers[cd.GroupName]
		if g == nil {
			g = &consumerGroupInfo{name: cd.GroupName, channels: make(map[uint64]*clientChannel), subs: make(map[string]*subscription)}
			r.consumers[cd.GroupName] = g
		}
		g.consumeType, g.messageModel, g.consumeFromWhere = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere
		changed := false
		if c, ok := g.channels[conn.ID()]; ok {
			c.lastUpdate, c.clientID = now, hb.ClientID
		} else {
			g.channels[conn.ID()] = ch()
			changed = true
		}
		seen := make(map[string]bool, len(cd.SubscriptionDataSet))
		for _, sd := range cd.SubscriptionDataSet {
			seen[sd.Topic] = true
			old, ok := g.subs[sd.Topic]
			if !ok {
				changed = true
			}
			if !ok || sd.SubVersion > old.data.SubVersion {
				g.subs[sd.Topic] = newSubscription(sd)
			}
		}
		for topic := range g.subs {
			if !seen[topic] {
				delete(g.subs, topic)
				changed = true
			}
		}
		if changed {
			changes = append(changes, groupChange{group: g.name, conns: g.connsLocked()})
		}
	}
	for _, pd := range hb.ProducerDataSet {
		m := r.producers[pd.GroupName]
		if m == nil {
			m = make(map[uint64]*clientChannel)
			r.producers[pd.GroupName] = m
		}
		if c, ok := m[conn.ID()]; ok {
			c.lastUpdate = now
		} else {
			m[conn.ID()] = ch()
		}
	}
	return changes
}

func newSubscription(sd body.SubscriptionData) *subscription {
	f := parseTagExpression(sd.SubString)
	if !f.all && len(sd.TagsSet) > 0 {
		f = tagFilterOf(sd.TagsSet)
	}
	return &subscription{data: sd, filter: f}
}

func (g *consumerGroupInfo) connsLocked() []*remoting.Conn {
	out := make([]*remoting.Conn, 0, len(g.channels))
	for _, c := range g.channels {
		out = append(out, c.conn)
	}
	return out
}

// unregister removes conn from the named groups (UNREGISTER_CLIENT).
func (r *clientRegistry) unregister(conn *remoting.Conn, producerGroup, consumerGroup string) []groupChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.producers[producerGroup]; m != nil {
		delete(m, conn.ID())
		if len(m) == 0 {
			delete(r.producers, producerGroup)
		}
	}
	return r.removeConsumerLocked(consumerGroup, conn.ID())
}

func (r *clientRegistry) removeConsumerLocked(group string, id uint64) []groupChange {
	g := r.consumers[group]
	if g == nil {
		return nil
	}
	if _, ok := g.channels[id]; !ok {
		return nil
	}
	delete(g.channels, id)
	if len(g.channels) == 0 {
		delete(r.consumers, group)
		return nil
	}
	return []groupChange{{group: group, conns: g.connsLocked()}}
}

// remove drops every registration of a connection (it closed).
func (r *clientRegistry) remove(id uint64) []groupChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, m := range r.producers {
		delete(m, id)
		if len(m) == 0 {
			delete(r.producers, name)
		}
	}
	var changes []groupChange
	for name := range r.consumers {
		changes = append(changes, r.removeConsumerLocked(name, id)...)
	}
	return changes
}

// expire drops registrations not refreshed since before cutoff.
func (r *clientRegistry) expire(cutoff time.Time) []groupChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, m := range r.producers {
		for id, c := range m {
			if c.lastUpdate.Before(cutoff) {
				delete(m, id)
			}
		}
		if len(m) == 0 {
			delete(r.producers, name)
		}
	}
	var changes []groupChange
	for name, g := range r.consumers {
		for id, c := range g.channels {
			if c.lastUpdate.Before(cutoff) {
				changes = append(changes, r.removeConsumerLocked(name, id)...)
			}
		}
	}
	return changes
}

// consumerIDs lists the client ids of a group's members, sorted.
func (r *clientRegistry) consumerIDs(group string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil {
		return nil
	}
	ids := make([]string, 0, len(g.channels))
	for _, c := range g.channels {
		ids = append(ids, c.clientID)
	}
	sort.Strings(ids)
	return ids
}

// subscriptionOf returns a group's subscription to topic and the group's
// message model; ok is false if the group is not registered.
func (r *clientRegistry) subscriptionOf(group, topic string) (sub *subscription, model string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil {
		return nil, "", false
	}
	return g.subs[topic], g.messageModel, true
}

// notifyConsumerIDsChanged tells a group's members to rebalance now.
func (b *Broker) notifyConsumerIDsChanged(changes []groupChange) {
	if !b.cfg.NotifyConsumerIdsChangedEnable {
		return
	}
	for _, ch := range changes {
		if g, ok, _ := b.groups.findOrCreate(ch.group); ok && !g.NotifyConsumerIdsChangedEnable {
			continue
		}
		for _, c := range ch.conns {
			req := protocol.NewRequest(protocol.NotifyConsumerIDsChanged, protocol.FieldsOf("consumerGroup", ch.group), nil)
			if err := c.InvokeOneway(req); err != nil {
				b.log.Debug("notify consumer ids changed", "group", ch.group, "conn", c, "err", err)
			}
		}
	}
}

// handleHeartbeat is HEART_BEAT: register the client, create retry topics,
// notify groups that changed. The reply's version is what clients record
// as the broker's version.
func (b *Broker) handleHeartbeat(req *remoting.Request) *protocol.Command {
	var hb body.HeartbeatData
	if err := json.Unmarshal(req.Cmd.Body, &hb); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, "heartbeat body is not valid JSON: "+err.Error())
	}
	for _, cd := range hb.ConsumerDataSet {
		g, ok, err := b.groups.findOrCreate(cd.GroupName)
		if err != nil {
			return req.Cmd.NewResponse(protocol.SystemError, err.Error())
		}
		if ok && g.RetryQueueNums > 0 && cd.GroupName != "" {
			if _, err := b.ensureTopic(RetryGroupTopicPrefix+cd.GroupName, g.RetryQueueNums, body.PermRead|body.PermWrite); err != nil {
				b.log.Warn("create retry topic", "group", cd.GroupName, "err", err)
			}
		}
	}
	changes := b.clients.heartbeat(req.Conn, req.Cmd, &hb, b.now())
	b.notifyConsumerIDsChanged(changes)
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleUnregisterClient is UNREGISTER_CLIENT (Java clients on shutdown).
func (b *Broker) handleUnregisterClient(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	_ = r.String("clientID")
	producer := r.OptString("producerGroup", "")
	consumer := r.OptString("consumerGroup", "")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	b.notifyConsumerIDsChanged(b.clients.unregister(req.Conn, producer, consumer))
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleGetConsumerList is GET_CONSUMER_LIST_BY_GROUP.
func (b *Broker) handleGetConsumerList(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group := r.String("consumerGroup")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	ids := b.clients.consumerIDs(group)
	if len(ids) == 0 {
		return req.Cmd.NewResponse(protocol.SystemError, "no consumer for this group, "+group)
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = body.Marshal(body.ConsumerListBody{ConsumerIDList: ids})
	return resp
}

// connection describes a group's online members (GET_CONSUMER_CONNECTION_LIST).
func (r *clientRegistry) connection(group string) (consumerConnection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil || len(g.channels) == 0 {
		return consumerConnection{}, false
	}
	cc := consumerConnection{SubscriptionTable: make(map[string]body.SubscriptionData, len(g.subs)),
		ConsumeType: g.consumeType, MessageModel: g.messageModel, ConsumeFromWhere: g.consumeFromWhere}
	for _, c := range g.channels {
		cc.ConnectionSet = append(cc.ConnectionSet, connectionInfo{ClientID: c.clientID, ClientAddr: c.conn.RemoteAddr().String(),
			Language: c.language, Version: c.version})
	}
	sort.Slice(cc.ConnectionSet, func(i, j int) bool { return cc.ConnectionSet[i].ClientID < cc.ConnectionSet[j].ClientID })
	for t, s := range g.subs {
		cc.SubscriptionTable[t] = s.data
	}
	return cc, true
}

// groupsSubscribedTo lists online groups subscribed to topic.
func (r *clientRegistry) groupsSubscribedTo(topic string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name, g := range r.consumers {
		if _, ok := g.subs[topic]; ok {
			out = append(out, name)
		}
	}
	return out
}

// groupConns returns the connections of a group's members.
func (r *clientRegistry) groupConns(group string) []*remoting.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.consumers[group]; g != nil {
		return g.connsLocked()
	}
	return nil
}

// producerConns returns the connections of a producer group's members.
func (r *clientRegistry) producerConns(group string) []*remoting.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*remoting.Conn
	for _, ch := range r.producers[group] {
		out = append(out, ch.conn)
	}
	return out
}
