package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// run is the push consumer's owner goroutine: it alone adds and removes
// owned queues (rebalance, offset resets) and commits offsets in the
// background. It rebalances at start, every RebalanceInterval, when a
// broker announces a membership change and when a subscribed topic's
// cached route changes (the instance refreshes routes every
// RouteRefreshInterval); it also retries calls past the consume timeout
// and renews orderly queue locks.
func (c *PushConsumer) run() {
	defer c.wg.Done()
	defer c.stopQueues()
	routes := make(map[string][]MessageQueue) // topic → queues last allocated from
	c.doRebalance(routes)
	rebalance := time.NewTicker(c.cfg.RebalanceInterval)
	defer rebalance.Stop()
	persist := time.NewTicker(c.cfg.PersistOffsetInterval)
	defer persist.Stop()
	watch := time.NewTicker(min(time.Second, c.cfg.ConsumeTimeout/2))
	defer watch.Stop()
	var lockC <-chan time.Time
	if c.cfg.Orderly != nil {
		lock := time.NewTicker(DefaultLockInterval)
		defer lock.Stop()
		lockC = lock.C
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-rebalance.C:
			c.doRebalance(routes)
		case <-c.rebalance:
			c.doRebalance(routes)
		case <-watch.C:
			if c.routesChanged(routes) {
				c.doRebalance(routes)
			}
			if c.cfg.Listener != nil {
				c.expireTimedOut()
			}
		case <-persist.C:
			c.persistOffsets(c.ctx)
		case <-lockC:
			c.lockOwned()
		case r := <-c.resets:
			c.applyReset(r)
		}
	}
}

// stopQueues ends every queue's goroutine (at Close). The queues stay in
// the table, undropped, so listener calls still running can complete and
// Close commits after them.
func (c *PushConsumer) stopQueues() {
	for _, pq := range c.table.all() {
		pq.cancel()
		<-pq.done
	}
}

// routesChanged reports whether a subscribed topic's cached route lists
// other queues than the last allocation used, or a topic had no route.
func (c *PushConsumer) routesChanged(last map[string][]MessageQueue) bool {
	changed := false
	for _, s := range c.subscriptions() {
		r := c.inst.cachedRoute(s.topic)
		if r == nil || r.borrowed {
			// Not known yet (a retry topic before the broker registered it):
			// one route query, and a rebalance only if it now exists.
			var err error
			if r, err = c.inst.topicRoute(c.ctx, s.topic); err != nil {
				continue
			}
		}
		if prev, seen := last[s.topic]; !seen || !slices.Equal(r.subscribe, prev) {
			changed = true
		}
	}
	return changed
}

// doRebalance allocates each subscribed topic's queues and starts or stops
// queues to match. A topic whose route or member list cannot be had keeps
// its queues until a later round.
func (c *PushConsumer) doRebalance(routes map[string][]MessageQueue) {
	for _, s := range c.subscriptions() {
		if c.ctx.Err() != nil {
			return
		}
		r, err := c.inst.topicRoute(c.ctx, s.topic)
		if err != nil {
			delete(routes, s.topic)
			if !errors.Is(err, ErrNoRoute) || s.topic != c.retryTopic() {
				c.log.Debug("petrel client: rebalance: no route", "topic", s.topic, "err", err)
			}
			continue
		}
		routes[s.topic] = r.subscribe
		mine := r.subscribe
		if c.cfg.Model == Clustering {
			ids, err := c.inst.consumerIDs(c.ctx, c.cfg.Group, r)
			if err != nil {
				c.log.Warn("petrel client: rebalance: group members unknown; keeping queues", "topic", s.topic, "err", err)
				continue
			}
			mine = c.cfg.Strategy.Allocate(c.inst.clientID, r.subscribe, ids)
		}
		c.updateQueues(s, mine)
	}
}

// consumerIDs asks a broker of the topic (any: they all know the group's
// members from heartbeats) for the group's client ids.
func (in *instance) consumerIDs(ctx context.Context, group string, r *topicRoute) ([]string, error) {
	var brokers []string
	for _, bd := range r.data.BrokerDatas {
		if bd.BrokerAddrs[0] != "" {
			brokers = append(brokers, bd.BrokerName)
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("petrel client: topic %s has no broker with a master", r.topic)
	}
	name := brokers[rand.IntN(len(brokers))]
	req := protocol.NewRequest(protocol.GetConsumerListByGroup, protocol.FieldsOf("consumerGroup", group), nil)
	resp, err := in.invokeBroker(ctx, name, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != protocol.Success {
		return nil, in.codeError(req, name, resp)
	}
	var list body.ConsumerListBody
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return nil, fmt.Errorf("petrel client: GET_CONSUMER_LIST_BY_GROUP body: %w", err)
	}
	return list.ConsumerIDList, nil
}

// updateQueues makes the owned queues of s.topic exactly mine: lost queues
// stop and commit their offsets first, so their next owner starts where
// this one left off; new ones start at their committed offset.
func (c *PushConsumer) updateQueues(s *subscription, mine []MessageQueue) {
	want := make(map[MessageQueue]bool, len(mine))
	for _, mq := range mine {
		want[mq] = true
	}
	now := time.Now()
	for _, pq := range c.table.all() {
		if pq.mq.Topic != s.topic {
			continue
		}
		switch {
		case !want[pq.mq]:
			c.removeQueue(pq)
		case pq.pullIdle(now, c.cfg.PullMaxIdleTime):
			// RocketMQ logs this as a bug it works around: the queue's pull
			// stalled. Start it afresh from its committed offset.
			c.log.Warn("petrel client: no pull for longer than PullMaxIdleTime; restarting the queue",
				"queue", pq.mq.String(), "idle", now.Sub(time.Unix(0, pq.lastPull.Load())))
			c.removeQueue(pq)
		}
	}
	for _, mq := range mine {
		if c.table.get(mq) == nil && c.ctx.Err() == nil {
			c.addQueue(s, mq)
		}
	}
}

// removeQueue stops a lost queue and commits its offset: the lowest
// message still held, so messages being consumed here are delivered again
// to the next owner rather than skipped.
func (c *PushConsumer) removeQueue(pq *processQueue) {
	pq.drop()
	<-pq.done
	c.table.delete(pq.mq)
	ctx, cancel := context.WithTimeout(context.Background(), c.inst.cfg.RequestTimeout)
	defer cancel()
	c.commitQueue(ctx, pq)
	if c.cfg.Orderly != nil {
		c.unlockQueues(ctx, []MessageQueue{pq.mq})
	}
	c.log.Info("petrel client: queue released", "queue", pq.mq.String())
}

// addQueue starts consuming a newly allocated queue.
func (c *PushConsumer) addQueue(s *subscription, mq MessageQueue) {
	off, err := c.initialOffset(c.ctx, mq)
	if err != nil {
		c.log.Warn("petrel client: no start offset; the next rebalance retries", "queue", mq.String(), "err", err)
		return
	}
	pq := newProcessQueue(mq, s, off)
	if c.cfg.Orderly != nil {
		if !c.lockQueue(pq) {
			return // another member still holds it; the next rebalance retries
		}
	}
	c.table.put(pq)
	c.wg.Add(1)
	if c.cfg.Orderly != nil {
		go c.orderlyLoop(pq)
	} else {
		go c.pullLoop(pq)
	}
	c.log.Info("petrel client: queue assigned", "queue", mq.String(), "offset", off)
}

// initialOffset is where a newly owned queue starts: its committed offset,
// or for a group without one, ConsumeFrom. Retry queues of a group without
// an offset start at 0 so no retry is skipped.
func (c *PushConsumer) initialOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	off, found, err := c.offsets.read(ctx, mq)
	if err != nil || found {
		return off, err
	}
	if mq.Topic == c.retryTopic() {
		return 0, nil
	}
	switch c.cfg.ConsumeFrom {
	case ConsumeFromFirstOffset:
		return c.inst.queueOffset(ctx, protocol.GetMinOffset, mq, nil)
	case ConsumeFromTimestamp:
		return c.inst.queueOffset(ctx, protocol.SearchOffsetByTimestamp, mq,
			protocol.FieldsOf("timestamp", strconv.FormatInt(c.cfg.ConsumeTimestamp.UnixMilli(), 10)))
	}
	return c.inst.queueOffset(ctx, protocol.GetMaxOffset, mq, nil)
}

// queueOffset is GET_MAX_OFFSET, GET_MIN_OFFSET or
// SEARCH_OFFSET_BY_TIMESTAMP for one queue.
func (in *instance) queueOffset(ctx context.Context, code int32, mq MessageQueue, extra protocol.Fields) (int64, error) {
	f := protocol.FieldsOf("topic", mq.Topic, "queueId", strconv.Itoa(mq.QueueID))
	f = append(f, extra...)
	req := protocol.NewRequest(code, f, nil)
	resp, err := in.invokeBroker(ctx, mq.BrokerName, req)
	if err != nil {
		return 0, err
	}
	if resp.Code != protocol.Success {
		return 0, in.codeError(req, mq.BrokerName, resp)
	}
	off, err := strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("petrel client: %s of %s: %w", protocol.RequestName(code), mq, err)
	}
	return off, nil
}

// commitQueue commits pq's offset if it changed since the last commit.
func (c *PushConsumer) commitQueue(ctx context.Context, pq *processQueue) {
	off := pq.commitOffset()
	pq.mu.Lock()
	same := off == pq.committed
	pq.mu.Unlock()
	if same {
		return
	}
	if err := c.offsets.commit(ctx, pq.mq, off); err != nil {
		if c.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// The periodic commit, cut short by Close, which commits again.
			c.log.Debug("petrel client: commit offset interrupted by Close", "queue", pq.mq.String(), "offset", off)
			return
		}
		c.log.Warn("petrel client: commit offset failed", "queue", pq.mq.String(), "offset", off, "err", err)
		return
	}
	pq.markCommitted(off)
}

// persistOffsets commits every owned queue's offset.
func (c *PushConsumer) persistOffsets(ctx context.Context) {
	for _, pq := range c.table.all() {
		if pq.isDropped() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.inst.cfg.RequestTimeout)
		c.commitQueue(cctx, pq)
		cancel()
	}
	if lo, ok := c.offsets.(*localOffsets); ok {
		if err := lo.flush(); err != nil {
			c.log.Warn("petrel client: write local offsets", "err", err)
		}
	}
}

// resetRequest is a broker's RESET_CONSUMER_CLIENT_OFFSET for this group.
type resetRequest struct {
	topic   string
	offsets map[MessageQueue]int64
}

// applyReset restarts the owned queues of the reset topic at the new
// offsets, discarding what they held: the admin asked to consume from
// there, and the old position must not be committed over it.
func (c *PushConsumer) applyReset(r resetRequest) {
	for _, pq := range c.table.all() {
		off, ok := r.offsets[pq.mq]
		if pq.mq.Topic != r.topic || !ok {
			continue
		}
		pq.drop()
		<-pq.done
		c.table.delete(pq.mq)
		ctx, cancel := context.WithTimeout(c.ctx, c.inst.cfg.RequestTimeout)
		if err := c.offsets.commit(ctx, pq.mq, off); err != nil {
			c.log.Warn("petrel client: commit reset offset", "queue", pq.mq.String(), "err", err)
		}
		cancel()
		next := newProcessQueue(pq.mq, pq.sub, off)
		next.committed = off
		next.locked = pq.isLocked()
		c.table.put(next)
		c.wg.Add(1)
		if c.cfg.Orderly != nil {
			go c.orderlyLoop(next)
		} else {
			go c.pullLoop(next)
		}
		c.log.Info("petrel client: queue offset reset", "queue", pq.mq.String(), "offset", off)
	}
}

// consumerByGroup returns the push consumer of a group in this instance.
func (in *instance) pushConsumer(group string) *PushConsumer {
	in.members.Lock()
	defer in.members.Unlock()
	c, _ := in.members.consumers[group].(*PushConsumer)
	return c
}

// handleNotifyConsumerIDsChanged is NOTIFY_CONSUMER_IDS_CHANGED (oneway):
// the group's membership changed, rebalance it now.
func (in *instance) handleNotifyConsumerIDsChanged(req *remoting.Request) *protocol.Command {
	req.Reply(nil)
	in.members.Lock()
	c, _ := in.members.consumers[req.Cmd.Ext.Get("consumerGroup")].(interface{ notifyRebalance() })
	in.members.Unlock()
	if c != nil {
		c.notifyRebalance()
	}
	return nil
}

// handleResetConsumerClientOffset is RESET_CONSUMER_CLIENT_OFFSET (oneway,
// after an admin's INVOKE_BROKER_TO_RESET_OFFSET): restart the group's
// queues of the topic at the offsets in the body.
func (in *instance) handleResetConsumerClientOffset(req *remoting.Request) *protocol.Command {
	req.Reply(nil)
	c := in.pushConsumer(req.Cmd.Ext.Get("group"))
	if c == nil {
		return nil
	}
	offsets, err := parseQueueOffsets(req.Cmd.Body)
	if err != nil {
		in.log.Warn("petrel client: undecodable offset reset", "err", err)
		return nil
	}
	r := resetRequest{topic: req.Cmd.Ext.Get("topic"), offsets: offsets}
	select {
	case c.resets <- r:
	default:
		in.log.Warn("petrel client: offset reset dropped: too many pending", "group", c.cfg.Group)
	}
	return nil
}
