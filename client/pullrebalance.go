package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
)

// Subscribe mode of the pull consumer, like RocketMQ's lite pull consumer
// with subscribe(): the group's members share the subscribed topics'
// queues by the allocation strategy, rebalanced every RebalanceInterval
// and when a broker announces a membership change. A queue this member
// loses first has its polled offset committed, so its next owner starts
// after what was polled here; a queue it gets starts at the committed
// offset (or ConsumeFrom), never at an offset remembered from an earlier
// ownership, so what is committed never goes backwards.

// Subscribe adds topic, filtered by a TAG expression, to the queues the
// group allocates this member. It cannot be mixed with Assign.
func (p *PullConsumer) Subscribe(ctx context.Context, topic, tagExpression string) error {
	if err := message.ValidateTopic(topic); err != nil {
		return fmt.Errorf("petrel client: subscribe: %w", err)
	}
	if _, err := p.inst.topicRoute(ctx, topic); err != nil {
		return fmt.Errorf("petrel client: subscribe %s: %w", topic, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.assigned {
		p.mu.Unlock()
		return errors.New("petrel client: Subscribe after Assign: a pull consumer either subscribes or is assigned queues")
	}
	first := !p.subscribed
	p.subscribed = true
	p.subs[topic] = newSubscription(topic, tagExpression, time.Now().UnixMilli())
	if first {
		p.wg.Add(1)
		go p.runRebalance()
	}
	p.mu.Unlock()
	// The brokers must know this member before the group is allocated.
	if err := p.inst.heartbeatNow(ctx); err != nil {
		p.log.Warn("petrel client: heartbeat after subscribe failed", "err", err)
	}
	p.notifyRebalance()
	return nil
}

// notifyRebalance asks for a rebalance now (NOTIFY_CONSUMER_IDS_CHANGED).
func (p *PullConsumer) notifyRebalance() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Assignment returns the queues the consumer reads now.
func (p *PullConsumer) Assignment() []MessageQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]MessageQueue, 0, len(p.fetchers))
	for mq := range p.fetchers {
		out = append(out, mq)
	}
	return out
}

// runRebalance is the subscribe mode's goroutine; Close ends it.
func (p *PullConsumer) runRebalance() {
	defer p.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(p.cfg.RebalanceInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
		p.rebalance(ctx)
	}
}

// rebalance allocates each subscribed topic and applies the result. A
// topic whose route or members cannot be had keeps its queues.
func (p *PullConsumer) rebalance(ctx context.Context) {
	p.mu.Lock()
	subs := make([]*subscription, 0, len(p.subs))
	for _, s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		r, err := p.inst.topicRoute(ctx, s.topic)
		if err != nil {
			p.log.Debug("petrel client: rebalance: no route", "topic", s.topic, "err", err)
			continue
		}
		ids, err := p.inst.consumerIDs(ctx, p.cfg.Group, r)
		if err != nil {
			p.log.Warn("petrel client: rebalance: group members unknown; keeping queues", "topic", s.topic, "err", err)
			continue
		}
		p.apply(ctx, s, p.cfg.Strategy.Allocate(p.inst.clientID, r.subscribe, ids))
	}
}

// apply makes the fetched queues of s.topic exactly mine.
func (p *PullConsumer) apply(ctx context.Context, s *subscription, mine []MessageQueue) {
	want := make(map[MessageQueue]bool, len(mine))
	for _, mq := range mine {
		want[mq] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for mq, f := range p.fetchers {
		if mq.Topic == s.topic && !want[mq] {
			f.cancel()
			<-f.done
			delete(p.fetchers, mq)
			p.revokeLocked(ctx, mq)
		}
	}
	for _, mq := range mine {
		if _, ok := p.fetchers[mq]; ok {
			continue
		}
		off, err := p.startOffset(ctx, mq)
		if err != nil {
			p.log.Warn("petrel client: no start offset; the next rebalance retries", "queue", mq.String(), "err", err)
			continue
		}
		f := &fetcher{mq: mq, sub: s, done: make(chan struct{})}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		p.fetchers[mq] = f
		go p.fetch(f, off)
		p.log.Info("petrel client: queue assigned", "queue", mq.String(), "offset", off)
	}
}

// revokeLocked commits what was polled of a lost queue and forgets it.
func (p *PullConsumer) revokeLocked(ctx context.Context, mq MessageQueue) {
	if off, ok := p.polled[mq]; ok && p.commited[mq] != off {
		if err := p.offsets.commit(ctx, mq, off); err != nil {
			p.log.Warn("petrel client: commit of a released queue failed; its next owner may repeat messages", "queue", mq.String(), "err", err)
		}
	}
	delete(p.polled, mq)
	delete(p.commited, mq)
	p.log.Info("petrel client: queue released", "queue", mq.String())
}
