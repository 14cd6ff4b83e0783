package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// defaultTopic is the template of auto-created topics (RocketMQ's TBW102).
const defaultTopic = "TBW102"

// defaultTopicQueueNums is how many queues a topic auto-created by a send
// gets at most: the official clients' DefaultTopicQueueNums.
const defaultTopicQueueNums = 4

// errTopicNotExist is the name servers' TOPIC_NOT_EXIST for a route query.
var errTopicNotExist = errors.New("topic not exist")

// topicRoute is the cached route of a topic and the queues derived from it.
// It is immutable once cached: updates replace it.
type topicRoute struct {
	topic string
	data  *body.TopicRouteData
	// publish are the writable queues of brokers with a master, sorted by
	// broker name then queue id.
	publish []MessageQueue
	// subscribe are the readable queues (nil for a borrowed route).
	subscribe []MessageQueue
	// borrowed: the topic has no route yet and publish comes from TBW102's
	// route, capped at defaultTopicQueueNums queues per broker; the first
	// send creates the topic.
	borrowed bool
}

func newTopicRoute(topic string, data *body.TopicRouteData, borrowed bool) *topicRoute {
	r := &topicRoute{topic: topic, data: data, borrowed: borrowed}
	masters := make(map[string]bool)
	for _, bd := range data.BrokerDatas {
		if bd.BrokerAddrs[0] != "" {
			masters[bd.BrokerName] = true
		}
	}
	for _, qd := range data.QueueDatas {
		writeN, readN := int(qd.WriteQueueNums), int(qd.ReadQueueNums)
		if borrowed {
			writeN, readN = min(writeN, defaultTopicQueueNums), 0
		}
		if qd.Perm&body.PermWrite != 0 && masters[qd.BrokerName] {
			for q := range writeN {
				r.publish = append(r.publish, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: q})
			}
		}
		if qd.Perm&body.PermRead != 0 {
			for q := range readN {
				r.subscribe = append(r.subscribe, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: q})
			}
		}
	}
	sortQueues(r.publish)
	sortQueues(r.subscribe)
	return r
}

func sortQueues(qs []MessageQueue) {
	slices.SortFunc(qs, func(a, b MessageQueue) int {
		if a.BrokerName != b.BrokerName {
			if a.BrokerName < b.BrokerName {
				return -1
			}
			return 1
		}
		return a.QueueID - b.QueueID
	})
}

// cachedRoute returns the cached route of topic, or nil.
func (in *instance) cachedRoute(topic string) *topicRoute {
	in.routes.RLock()
	defer in.routes.RUnlock()
	return in.routes.topics[topic]
}

// publishRoute returns the route a send to topic uses: the cached one, or
// a fresh one from the name servers. A topic unknown to them borrows the
// route of TBW102 (as RocketMQ's clients do) so the first send creates it.
func (in *instance) publishRoute(ctx context.Context, topic string) (*topicRoute, error) {
	if r := in.cachedRoute(topic); r != nil && len(r.publish) > 0 {
		return r, nil
	}
	r, err := in.loadRoute(ctx, topic, true)
	if err != nil {
		return nil, err
	}
	if len(r.publish) == 0 {
		return nil, fmt.Errorf("%w %s: the route has no writable queue on a broker with a master", ErrNoRoute, topic)
	}
	return r, nil
}

// topicRoute returns the real route of topic (never a borrowed one): what
// consumers need to list a topic's readable queues.
func (in *instance) topicRoute(ctx context.Context, topic string) (*topicRoute, error) {
	if r := in.cachedRoute(topic); r != nil && !r.borrowed {
		return r, nil
	}
	return in.loadRoute(ctx, topic, false)
}

// loadRoute fetches the route of topic and caches it; with borrow, a
// topic without a route borrows TBW102's.
func (in *instance) loadRoute(ctx context.Context, topic string, borrow bool) (*topicRoute, error) {
	data, err := in.fetchRoute(ctx, topic)
	if errors.Is(err, errTopicNotExist) && borrow {
		tmpl, terr := in.fetchRoute(ctx, defaultTopic)
		if terr != nil {
			return nil, fmt.Errorf("%w %s: the name servers know neither it nor %s: %w", ErrNoRoute, topic, defaultTopic, terr)
		}
		r := newTopicRoute(topic, tmpl, true)
		in.storeRoute(r)
		return r, nil
	}
	if errors.Is(err, errTopicNotExist) {
		return nil, fmt.Errorf("%w %s: %w", ErrNoRoute, topic, err)
	}
	if err != nil {
		return nil, err
	}
	r := newTopicRoute(topic, data, false)
	in.storeRoute(r)
	return r, nil
}

// storeRoute caches r and merges its brokers' addresses; a broker address
// not seen before gets a heartbeat at once, so a broker can reach this
// client (transaction checks, consumer notifications) without waiting.
func (in *instance) storeRoute(r *topicRoute) {
	in.routes.Lock()
	in.routes.topics[r.topic] = r
	fresh := false
	for _, bd := range r.data.BrokerDatas {
		addrs := in.routes.brokers[bd.BrokerName]
		if addrs == nil {
			addrs = make(map[int64]string)
			in.routes.brokers[bd.BrokerName] = addrs
		}
		for id, a := range bd.BrokerAddrs {
			if addrs[id] != a {
				addrs[id] = a
				fresh = true
			}
		}
	}
	in.routes.Unlock()
	if fresh {
		in.heartbeatSoon()
	}
}

// brokerAddr returns the master address of a broker name from the cached
// routes.
func (in *instance) brokerAddr(brokerName string) (string, bool) {
	in.routes.RLock()
	defer in.routes.RUnlock()
	a, ok := in.routes.brokers[brokerName][0]
	return a, ok && a != ""
}

// fetchRoute asks the name servers for a topic's route, trying each once,
// starting with the next in turn.
func (in *instance) fetchRoute(ctx context.Context, topic string) (*body.TopicRouteData, error) {
	req := protocol.NewRequest(protocol.GetRouteInfoByTopic, protocol.FieldsOf("topic", topic), nil)
	start := int(in.nsNext.Add(1))
	var errs []error
	for i := range in.nameServers {
		addr := in.nameServers[(start+i)%len(in.nameServers)]
		rctx, cancel := context.WithTimeout(ctx, in.cfg.RequestTimeout)
		resp, err := in.invoke(rctx, "", addr, req)
		cancel()
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch resp.Code {
		case protocol.Success:
			var data body.TopicRouteData
			if err := json.Unmarshal(resp.Body, &data); err != nil {
				return nil, fmt.Errorf("petrel client: route of %s from %s: %w", topic, addr, err)
			}
			return &data, nil
		case protocol.TopicNotExist:
			return nil, fmt.Errorf("name server %s: %w", addr, errTopicNotExist)
		default:
			errs = append(errs, &BrokerError{Op: "GET_ROUTEINFO_BY_TOPIC", Addr: addr, Code: resp.Code, Remark: resp.Remark})
		}
	}
	return nil, fmt.Errorf("petrel client: route of %s: %w", topic, errors.Join(errs...))
}

// refreshRoutes fetches the route of every cached topic again. A borrowed
// route is replaced by the topic's own once it exists; a topic that
// disappeared keeps its last route (its brokers may come back).
func (in *instance) refreshRoutes() {
	in.routes.RLock()
	topics := make([]*topicRoute, 0, len(in.routes.topics))
	for _, r := range in.routes.topics {
		topics = append(topics, r)
	}
	in.routes.RUnlock()
	for _, old := range topics {
		if in.ctx.Err() != nil {
			return
		}
		if _, err := in.loadRoute(in.ctx, old.topic, old.borrowed); err != nil && in.ctx.Err() == nil {
			in.log.Debug("petrel client: route refresh failed; keeping the last route", "topic", old.topic, "err", err)
		}
	}
}

// brokerAddrs returns the addresses to heartbeat: every broker of the
// cached routes, or only masters when the instance has no consumers.
func (in *instance) brokerAddrs(mastersOnly bool) map[string]string {
	in.routes.RLock()
	defer in.routes.RUnlock()
	out := make(map[string]string)
	for name, addrs := range in.routes.brokers {
		for id, a := range addrs {
			if a != "" && (id == 0 || !mastersOnly) {
				out[a] = name
			}
		}
	}
	return out
}
