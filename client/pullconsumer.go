package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// PullConsumerConfig configures a PullConsumer; zero fields take the
// defaults.
type PullConsumerConfig struct {
	Config
	// Group is the consumer group whose offsets Commit stores (required).
	Group string
	// ConsumeFrom and ConsumeTimestamp: where an assigned queue without a
	// committed offset starts.
	ConsumeFrom      ConsumeFrom
	ConsumeTimestamp time.Time
	// PullBatchSize is the most messages per pull and per Poll (default 32).
	PullBatchSize int
	// BufferedBatches is how many pulled batches wait for Poll before the
	// queues' fetchers pause (default 16).
	BufferedBatches int
	// Strategy allocates a subscribed topic's queues among the group's
	// members (default AllocateAveragely); RebalanceInterval is how often
	// they are allocated again (default 20 s). Membership changes the
	// brokers announce rebalance at once. Both apply to Subscribe only.
	Strategy          AllocateStrategy
	RebalanceInterval time.Duration
}

// PullConsumer reads the queues it is assigned at the pace of Poll and
// commits offsets when told to (Commit), like RocketMQ's lite pull
// consumer with assigned queues. Each assigned queue has one fetcher
// goroutine that long-polls its broker and hands batches to Poll through
// a bounded buffer.
type PullConsumer struct {
	cfg  PullConsumerConfig
	inst *instance
	log  *slog.Logger

	ready chan pulledBatch

	mu       sync.Mutex
	closed   bool
	fetchers map[MessageQueue]*fetcher
	polled   map[MessageQueue]int64 // next offset after the last polled message
	commited map[MessageQueue]int64
	subs     map[string]*subscription
	offsets  *remoteOffsets

	// Subscribe mode (pullrebalance.go); Assign and Subscribe exclude
	// each other.
	assigned   bool
	subscribed bool
	kick       chan struct{} // rebalance now
	stop       chan struct{} // closed by Close
	wg         sync.WaitGroup
}

type pulledBatch struct {
	f    *fetcher
	msgs []*MessageExt
}

// fetcher pulls one assigned queue.
type fetcher struct {
	mq     MessageQueue
	sub    *subscription
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPullConsumer returns a pull consumer with no queue assigned.
func NewPullConsumer(cfg PullConsumerConfig) (*PullConsumer, error) {
	if cfg.Group == "" {
		return nil, errors.New("petrel client: PullConsumerConfig.Group is empty")
	}
	setDefault(&cfg.PullBatchSize, DefaultPullBatchSize)
	setDefault(&cfg.BufferedBatches, 16)
	setDefault(&cfg.RebalanceInterval, DefaultRebalanceInterval)
	if cfg.Strategy == nil {
		cfg.Strategy = AllocateAveragely{}
	}
	if cfg.ConsumeFrom == ConsumeFromTimestamp && cfg.ConsumeTimestamp.IsZero() {
		cfg.ConsumeTimestamp = time.Now().Add(-DefaultConsumeFromTimestampAgo)
	}
	inst, err := acquireInstance(cfg.Config)
	if err != nil {
		return nil, err
	}
	p := &PullConsumer{cfg: cfg, inst: inst, log: inst.log.With("consumerGroup", cfg.Group),
		ready: make(chan pulledBatch, cfg.BufferedBatches), fetchers: make(map[MessageQueue]*fetcher),
		polled: make(map[MessageQueue]int64), commited: make(map[MessageQueue]int64),
		subs: make(map[string]*subscription), offsets: &remoteOffsets{inst: inst, group: cfg.Group},
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := inst.addConsumer(cfg.Group, p); err != nil {
		inst.release()
		return nil, err
	}
	return p, nil
}

// Queues returns the readable queues of topic.
func (p *PullConsumer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	r, err := p.inst.topicRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	return append([]MessageQueue(nil), r.subscribe...), nil
}

// Assign makes queues the consumer's assignment, filtered by a TAG
// expression: new queues start at their committed offset (or ConsumeFrom),
// queues no longer assigned stop, and their batches not yet polled are
// dropped. Offsets polled but not committed are kept for Commit.
func (p *PullConsumer) Assign(ctx context.Context, tagExpression string, queues ...MessageQueue) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.subscribed {
		return errors.New("petrel client: Assign after Subscribe: a pull consumer either subscribes or is assigned queues")
	}
	p.assigned = true
	want := make(map[MessageQueue]bool, len(queues))
	for _, mq := range queues {
		want[mq] = true
	}
	for mq, f := range p.fetchers {
		if !want[mq] {
			f.cancel()
			<-f.done
			delete(p.fetchers, mq)
		}
	}
	for _, mq := range queues {
		if _, ok := p.fetchers[mq]; ok {
			continue
		}
		if _, err := p.inst.topicRoute(ctx, mq.Topic); err != nil {
			return err
		}
		off, err := p.startOffset(ctx, mq)
		if err != nil {
			return fmt.Errorf("petrel client: assign %s: %w", mq, err)
		}
		sub := newSubscription(mq.Topic, tagExpression, 0)
		p.subs[mq.Topic] = sub
		f := &fetcher{mq: mq, sub: sub, done: make(chan struct{})}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		p.fetchers[mq] = f
		go p.fetch(f, off)
	}
	p.inst.heartbeatSoon()
	return nil
}

func (p *PullConsumer) startOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	if off, ok := p.polled[mq]; ok {
		return off, nil
	}
	off, found, err := p.offsets.read(ctx, mq)
	if err != nil || found {
		return off, err
	}
	switch p.cfg.ConsumeFrom {
	case ConsumeFromFirstOffset:
		return p.inst.queueOffset(ctx, protocol.GetMinOffset, mq, nil)
	case ConsumeFromTimestamp:
		return p.inst.queueOffset(ctx, protocol.SearchOffsetByTimestamp, mq,
			protocol.FieldsOf("timestamp", strconv.FormatInt(p.cfg.ConsumeTimestamp.UnixMilli(), 10)))
	}
	return p.inst.queueOffset(ctx, protocol.GetMaxOffset, mq, nil)
}

// fetch is a queue's fetcher goroutine.
func (p *PullConsumer) fetch(f *fetcher, off int64) {
	defer close(f.done)
	for f.ctx.Err() == nil {
		res, err := p.inst.pull(f.ctx, pullArgs{group: p.cfg.Group, mq: f.mq, sub: f.sub, offset: off,
			maxNums: p.cfg.PullBatchSize, suspend: brokerSuspendTime})
		if err != nil {
			if f.ctx.Err() == nil {
				p.log.Warn("petrel client: pull failed; retrying", "queue", f.mq.String(), "err", err)
				sleepCtx(f.ctx, pullErrorBackoff)
			}
			continue
		}
		off = res.next
		if len(res.msgs) == 0 {
			continue
		}
		select {
		case p.ready <- pulledBatch{f: f, msgs: res.msgs}:
		case <-f.ctx.Done():
			return
		}
	}
}

// Poll returns the next batch of messages of one assigned queue, waiting
// for one until ctx ends. Polled messages count as consumed for Commit.
func (p *PullConsumer) Poll(ctx context.Context) ([]*MessageExt, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case b := <-p.ready:
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				return nil, ErrClosed
			}
			if p.fetchers[b.f.mq] != b.f {
				p.mu.Unlock()
				continue // the queue was unassigned after this batch was pulled
			}
			p.polled[b.f.mq] = b.msgs[len(b.msgs)-1].QueueOffset + 1
			p.mu.Unlock()
			return b.msgs, nil
		}
	}
}

// Commit stores, for each queue polled since the last Commit, the offset
// after its last polled message (UPDATE_CONSUMER_OFFSET).
func (p *PullConsumer) Commit(ctx context.Context) error {
	p.mu.Lock()
	todo := make(map[MessageQueue]int64)
	for mq, off := range p.polled {
		if p.commited[mq] != off {
			todo[mq] = off
		}
	}
	p.mu.Unlock()
	var errs []error
	for mq, off := range todo {
		if err := p.offsets.commit(ctx, mq, off); err != nil {
			errs = append(errs, err)
			continue
		}
		p.mu.Lock()
		p.commited[mq] = off
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close stops the rebalancer and the fetchers, unregisters the member
// from the brokers (so a subscribed group's others take its queues at
// once) and leaves the client instance; it does not commit (call Commit
// first).
func (p *PullConsumer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait() // the rebalancer, which changes fetchers
	p.mu.Lock()
	fetchers := p.fetchers
	p.fetchers = nil
	p.mu.Unlock()
	for _, f := range fetchers {
		f.cancel()
		<-f.done
	}
	p.inst.removeConsumer(p.cfg.Group)
	ctx, cancel := context.WithTimeout(context.Background(), p.inst.cfg.RequestTimeout)
	p.inst.unregisterConsumer(ctx, p.cfg.Group) // the group's others rebalance at once
	cancel()
	p.inst.release()
	return nil
}

// consumerData is the group's heartbeat entry (CONSUME_ACTIVELY).
func (p *PullConsumer) consumerData() body.ConsumerData {
	p.mu.Lock()
	defer p.mu.Unlock()
	cd := body.ConsumerData{GroupName: p.cfg.Group, ConsumeType: body.ConsumeActively, MessageModel: body.Clustering,
		ConsumeFromWhere: p.cfg.ConsumeFrom.String(), SubscriptionDataSet: []body.SubscriptionData{}}
	for _, s := range p.subs {
		cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, s.data)
	}
	return cd
}

// tcpAddr is a host:port as a net.Addr.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

var _ net.Addr = tcpAddr("")
