package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// Defaults of PushConsumerConfig fields left zero (RocketMQ's names in
// parentheses).
const (
	DefaultConsumeGoroutines         = 20                // consumeThreadMin
	DefaultConsumeBatchSize          = 1                 // consumeMessageBatchMaxSize
	DefaultPullBatchSize             = 32                // pullBatchSize
	DefaultPullThresholdForQueue     = 1000              // pullThresholdForQueue
	DefaultPullThresholdSizeForQueue = 100 << 20         // pullThresholdSizeForQueue (100 MiB)
	DefaultMaxReconsumeTimes         = 16                // maxReconsumeTimes
	DefaultPullMaxIdleTime           = 120 * time.Second // pullMaxIdleTime
	DefaultLockMaxLiveTime           = 30 * time.Second  // rebalanceLockMaxLiveTime
	DefaultConsumeTimeout            = 15 * time.Minute  // consumeTimeout
	DefaultRebalanceInterval         = 20 * time.Second  // rocketmq.client.rebalance.waitInterval
	DefaultPersistOffsetInterval     = 5 * time.Second   // persistConsumerOffsetInterval
	DefaultSuspendCurrentQueueTime   = time.Second       // suspendCurrentQueueTimeMillis
	DefaultLocalRetryDelay           = 5 * time.Second   // the Go client's back-off after a failed send-back
	DefaultLockInterval              = 20 * time.Second  // rocketmq.client.rebalance.lockInterval
	// DefaultConsumeFromTimestampAgo is how far back ConsumeFromTimestamp
	// starts when ConsumeTimestamp is zero (RocketMQ: half an hour ago).
	DefaultConsumeFromTimestampAgo = 30 * time.Minute
)

// Pull timing (not configurable: they are protocol conventions).
const (
	brokerSuspendTime = 15 * time.Second // brokerSuspendMaxTimeMillis
	// pullTimeoutMargin: a held pull times out this long after its
	// suspension ends (Java: consumerTimeoutMillisWhenSuspend 30 s for a
	// 15 s suspension).
	pullTimeoutMargin = 15 * time.Second
	pullErrorBackoff  = 3 * time.Second // pullTimeDelayMillsWhenException
)

// ConsumeResult is what a listener returns for a batch of messages.
type ConsumeResult int

const (
	// ConsumeSuccess: the batch is done; its offsets may be committed.
	ConsumeSuccess ConsumeResult = iota
	// ReconsumeLater: the batch failed. A concurrent consumer sends each
	// message back to the broker, which redelivers it later through the
	// group's retry topic (or its DLQ after MaxReconsumeTimes); an orderly
	// consumer suspends the queue for SuspendCurrentQueueTime and retries
	// the batch in place (RocketMQ's SUSPEND_CURRENT_QUEUE_A_MOMENT).
	ReconsumeLater
)

// SuspendCurrentQueueAMoment is the orderly name of ReconsumeLater.
const SuspendCurrentQueueAMoment = ReconsumeLater

func (r ConsumeResult) String() string {
	switch r {
	case ConsumeSuccess:
		return "CONSUME_SUCCESS"
	case ReconsumeLater:
		return "RECONSUME_LATER"
	}
	return fmt.Sprintf("ConsumeResult(%d)", int(r))
}

// MessageModel says how a group shares messages.
type MessageModel int

const (
	// Clustering: each message goes to one member of the group; offsets are
	// kept by the brokers.
	Clustering MessageModel = iota
	// Broadcasting: every member gets every message; each keeps its
	// offsets in a local file.
	Broadcasting
)

func (m MessageModel) String() string {
	if m == Broadcasting {
		return body.Broadcasting
	}
	return body.Clustering
}

// ConsumeFrom says where a group with no committed offset on a queue
// starts (RocketMQ's ConsumeFromWhere). Brokers may answer offset 0 for a
// young queue whatever it says (see the protocol notes): RocketMQ 4.9
// brokers and petrel do.
type ConsumeFrom int

const (
	// ConsumeFromLastOffset starts at the end of the queue.
	ConsumeFromLastOffset ConsumeFrom = iota
	// ConsumeFromFirstOffset starts at the first message still stored.
	ConsumeFromFirstOffset
	// ConsumeFromTimestamp starts at the first message stored at or after
	// ConsumeTimestamp.
	ConsumeFromTimestamp
)

func (w ConsumeFrom) String() string {
	switch w {
	case ConsumeFromFirstOffset:
		return "CONSUME_FROM_FIRST_OFFSET"
	case ConsumeFromTimestamp:
		return "CONSUME_FROM_TIMESTAMP"
	}
	return "CONSUME_FROM_LAST_OFFSET"
}

// ConcurrentListener consumes a batch of messages (at most
// ConsumeBatchSize, all from one queue). Listeners run on up to
// ConsumeGoroutines goroutines at once, in no particular order. ctx ends
// at the consume timeout; a listener still running then has its messages
// retried.
type ConcurrentListener func(ctx context.Context, msgs []*MessageExt) ConsumeResult

// OrderlyListener consumes a batch of one queue's messages; the next batch
// of that queue waits for it, so a queue's messages are consumed in order.
type OrderlyListener func(ctx context.Context, msgs []*MessageExt) ConsumeResult

// PushConsumerConfig configures a PushConsumer; zero fields take the
// defaults.
type PushConsumerConfig struct {
	Config
	// Group is the consumer group (required).
	Group string
	// Model is Clustering (default) or Broadcasting.
	Model MessageModel
	// Listener consumes messages concurrently. Set it or Orderly.
	Listener ConcurrentListener
	// Orderly consumes each queue's messages in order, holding the queue's
	// lock on its broker. Set it or Listener.
	Orderly OrderlyListener
	// ConsumeFrom and ConsumeTimestamp: where a queue without a committed
	// offset starts.
	ConsumeFrom      ConsumeFrom
	ConsumeTimestamp time.Time
	// Strategy allocates a topic's queues among the group's members;
	// nil means AllocateAveragely.
	Strategy AllocateStrategy
	// ConsumeGoroutines bounds concurrent listener calls (default 20).
	ConsumeGoroutines int
	// ConsumeBatchSize is the most messages per listener call (default 1).
	ConsumeBatchSize int
	// PullBatchSize is the most messages per pull (default 32).
	PullBatchSize int
	// PullThresholdForQueue and PullThresholdSizeForQueue pause pulling a
	// queue while it holds that many messages, or bytes of bodies, not yet
	// consumed (defaults 1000 and 100 MiB). The check comes before each
	// pull, and the next pull is sent before the last answer's messages are
	// counted, so a queue may hold up to two batches (PullBatchSize) more.
	PullThresholdForQueue     int
	PullThresholdSizeForQueue int
	// MaxReconsumeTimes is how often a message is redelivered before it
	// goes to the group's DLQ (%DLQ%<group>); default 16. Negative means
	// the broker's setting for the group.
	MaxReconsumeTimes int
	// ConsumeTimeout bounds a listener call (default 15 min); the messages
	// of a call running past it are retried as if it returned
	// ReconsumeLater, and its eventual result is ignored.
	ConsumeTimeout time.Duration
	// LockMaxLiveTime (RocketMQ's rebalanceLockMaxLiveTime, default 30 s):
	// an orderly consumer consumes a queue only while its lock was renewed
	// within this long; past it, it locks the queue again first and
	// pauses while it cannot.
	LockMaxLiveTime time.Duration
	// PullMaxIdleTime (RocketMQ's pullMaxIdleTime, default 120 s): a queue
	// whose next pull has not started for this long, while it was neither
	// flow-controlled nor consuming, is dropped and started afresh from
	// its committed offset at the next rebalance, so a pull that hung
	// cannot stall the queue for good.
	PullMaxIdleTime time.Duration
	// RebalanceInterval is how often the group's queues are allocated
	// again (default 20 s); membership changes announced by brokers and
	// route changes trigger a rebalance at once.
	RebalanceInterval time.Duration
	// PersistOffsetInterval is how often consumed offsets are committed
	// (default 5 s); they are also committed on Close and when a queue is
	// lost in a rebalance.
	PersistOffsetInterval time.Duration
	// LocalRetryDelay is how long a message waits before it is consumed
	// again locally when sending it back to the broker failed (default 5 s).
	LocalRetryDelay time.Duration
	// SuspendCurrentQueueTime is the pause of an orderly queue after
	// ReconsumeLater (default 1 s).
	SuspendCurrentQueueTime time.Duration
	// OffsetStoreDir is where a broadcasting consumer keeps its offsets;
	// empty means $HOME/.petrel_offsets. The file is
	// <dir>/<clientId>/<group>/offsets.json.
	OffsetStoreDir string
}

// subscription is one subscribed topic with its TAG expression.
type subscription struct {
	topic string
	expr  string
	tags  map[string]bool // nil: every tag
	data  body.SubscriptionData
}

func newSubscription(topic, expr string, version int64) *subscription {
	s := &subscription{topic: topic, expr: strings.TrimSpace(expr)}
	if s.expr == "" || s.expr == "*" {
		s.expr = "*"
	}
	s.data = body.SubscriptionData{Topic: topic, SubString: s.expr, TagsSet: []string{}, CodeSet: body.Int64Set{},
		SubVersion: version, ExpressionType: body.ExpressionTag}
	if s.expr != "*" {
		s.tags = make(map[string]bool)
		for _, t := range strings.Split(s.expr, "||") {
			if t = strings.TrimSpace(t); t != "" && !s.tags[t] {
				s.tags[t] = true
				s.data.TagsSet = append(s.data.TagsSet, t)
				s.data.CodeSet = append(s.data.CodeSet, message.TagsHashCodeString(t))
			}
		}
	}
	return s
}

// matches filters by tag string on the client too: brokers filter by tag
// hash code, which can collide.
func (s *subscription) matches(m *MessageExt) bool {
	return s.tags == nil || s.tags[m.Tags]
}

// Retry and dead-letter topic prefixes (RocketMQ's MixAll).
const (
	RetryTopicPrefix = "%RETRY%"
	DLQTopicPrefix   = "%DLQ%"
)

// PushConsumer receives messages of its subscriptions and hands them to
// its listener. Subscribe before Start; Close stops it.
type PushConsumer struct {
	cfg  PushConsumerConfig
	inst *instance
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[string]*subscription // by topic, the retry topic included
	state   int                      // consumerNew, consumerStarted, consumerClosed
	started time.Time

	ctx    context.Context // cancelled by Close: stops pulling and rebalancing
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the consumer

	tasks     chan *consumeBatch
	rebalance chan struct{} // capacity 1: rebalance now
	resets    chan resetRequest
	offsets   offsetStore
	table     *queueTable
	retry     retrySender // CONSUMER_SEND_MSG_BACK's fallback
}

const (
	consumerNew = iota
	consumerStarted
	consumerClosed
)

// ErrNotStarted: the consumer has not been started.
var ErrNotStarted = errors.New("petrel client: consumer not started")

// NewPushConsumer returns a consumer to Subscribe and Start. It connects
// to nothing until Start.
func NewPushConsumer(cfg PushConsumerConfig) (*PushConsumer, error) {
	if cfg.Group == "" {
		return nil, errors.New("petrel client: PushConsumerConfig.Group is empty")
	}
	if (cfg.Listener == nil) == (cfg.Orderly == nil) {
		return nil, errors.New("petrel client: set exactly one of PushConsumerConfig.Listener and Orderly")
	}
	if len(cfg.NameServers) == 0 {
		return nil, errors.New("petrel client: Config.NameServers is empty")
	}
	setDefault(&cfg.ConsumeGoroutines, DefaultConsumeGoroutines)
	setDefault(&cfg.ConsumeBatchSize, DefaultConsumeBatchSize)
	setDefault(&cfg.PullBatchSize, DefaultPullBatchSize)
	setDefault(&cfg.PullThresholdForQueue, DefaultPullThresholdForQueue)
	setDefault(&cfg.PullThresholdSizeForQueue, DefaultPullThresholdSizeForQueue)
	if cfg.MaxReconsumeTimes == 0 {
		cfg.MaxReconsumeTimes = DefaultMaxReconsumeTimes
	}
	setDefault(&cfg.ConsumeTimeout, DefaultConsumeTimeout)
	setDefault(&cfg.RebalanceInterval, DefaultRebalanceInterval)
	setDefault(&cfg.PullMaxIdleTime, DefaultPullMaxIdleTime)
	setDefault(&cfg.LockMaxLiveTime, DefaultLockMaxLiveTime)
	setDefault(&cfg.PersistOffsetInterval, DefaultPersistOffsetInterval)
	setDefault(&cfg.LocalRetryDelay, DefaultLocalRetryDelay)
	setDefault(&cfg.SuspendCurrentQueueTime, DefaultSuspendCurrentQueueTime)
	if cfg.Strategy == nil {
		cfg.Strategy = AllocateAveragely{}
	}
	if cfg.ConsumeFrom == ConsumeFromTimestamp && cfg.ConsumeTimestamp.IsZero() {
		cfg.ConsumeTimestamp = time.Now().Add(-DefaultConsumeFromTimestampAgo)
	}
	return &PushConsumer{cfg: cfg, subs: make(map[string]*subscription)}, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Subscribe adds a topic with a TAG expression ("*", "" or "TagA ||
// TagB"). Call it before Start.
func (c *PushConsumer) Subscribe(topic, tagExpression string) error {
	if err := message.ValidateTopic(topic); err != nil {
		return fmt.Errorf("petrel client: subscribe: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != consumerNew {
		return errors.New("petrel client: Subscribe after Start")
	}
	c.subs[topic] = newSubscription(topic, tagExpression, time.Now().UnixMilli())
	return nil
}

// retryTopic is the group's retry topic.
func (c *PushConsumer) retryTopic() string { return RetryTopicPrefix + c.cfg.Group }

// Start joins the client instance, registers the group with the brokers
// of its topics, allocates queues and starts pulling. It fails if a
// subscribed topic has no route.
func (c *PushConsumer) Start(ctx context.Context) error {
	if err := c.join(ctx); err != nil {
		return err
	}
	// The brokers must know this member before anyone asks them for the
	// group's members; a failure here is retried by the next heartbeat.
	if err := c.inst.heartbeatNow(ctx); err != nil {
		c.log.Warn("petrel client: first heartbeat failed", "err", err)
	}
	if c.cfg.Listener != nil {
		for range c.cfg.ConsumeGoroutines {
			c.wg.Add(1)
			go c.worker()
		}
	}
	c.wg.Add(1)
	go c.run()
	return nil
}

// join checks the subscriptions' routes and joins the client instance.
func (c *PushConsumer) join(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != consumerNew {
		return errors.New("petrel client: Start called twice or after Close")
	}
	if len(c.subs) == 0 {
		return errors.New("petrel client: Start without a subscription")
	}
	inst, err := acquireInstance(c.cfg.Config)
	if err != nil {
		return err
	}
	for topic := range c.subs {
		if _, err := inst.topicRoute(ctx, topic); err != nil {
			inst.release()
			return fmt.Errorf("petrel client: consumer group %s: %w", c.cfg.Group, err)
		}
	}
	var offsets offsetStore = &remoteOffsets{inst: inst, group: c.cfg.Group}
	if c.cfg.Model == Broadcasting {
		if offsets, err = openLocalOffsets(c.cfg.OffsetStoreDir, inst.clientID, c.cfg.Group); err != nil {
			inst.release()
			return err
		}
	} else {
		c.subs[c.retryTopic()] = newSubscription(c.retryTopic(), "*", time.Now().UnixMilli())
	}
	c.offsets = offsets
	c.inst = inst
	c.log = inst.log.With("consumerGroup", c.cfg.Group)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.tasks = make(chan *consumeBatch, c.cfg.ConsumeGoroutines)
	c.rebalance = make(chan struct{}, 1)
	c.resets = make(chan resetRequest, 16)
	c.table = newQueueTable()
	// Joining makes the consumer visible to the instance's handlers and
	// heartbeats, so everything they use is set above.
	if err := inst.addConsumer(c.cfg.Group, c); err != nil {
		c.cancel()
		delete(c.subs, c.retryTopic())
		inst.release()
		return err
	}
	c.state = consumerStarted
	c.started = time.Now()
	return nil
}

// Close stops pulling, waits for listener calls in progress (a listener
// should return by its ctx's deadline), commits the offsets consumed,
// unregisters the group's member from the brokers so the others rebalance
// at once, and leaves the client instance. Messages pulled but not
// consumed are delivered again to whoever owns their queue next.
func (c *PushConsumer) Close() error {
	c.mu.Lock()
	if c.state != consumerStarted {
		c.state = consumerClosed
		c.mu.Unlock()
		return nil
	}
	c.state = consumerClosed
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait() // every queue stopped, every listener call returned
	ctx, cancel := context.WithTimeout(context.Background(), c.inst.cfg.RequestTimeout)
	defer cancel()
	c.persistOffsets(ctx)
	if c.cfg.Orderly != nil {
		c.unlockQueues(ctx, c.table.queues())
	}
	c.inst.removeConsumer(c.cfg.Group)
	c.unregister(ctx)
	c.inst.release()
	return nil
}

// unregister sends UNREGISTER_CLIENT to every broker of the cached routes,
// as the Java client does on shutdown, so the group's other members need
// not wait for the connection to close or the registration to expire.
func (c *PushConsumer) unregister(ctx context.Context) { c.inst.unregisterConsumer(ctx, c.cfg.Group) }

// unregisterConsumer sends UNREGISTER_CLIENT for a consumer group to every
// broker of the cached routes.
func (in *instance) unregisterConsumer(ctx context.Context, group string) {
	var wg sync.WaitGroup
	for addr, name := range in.brokerAddrs(false) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := protocol.NewRequest(protocol.UnregisterClient, protocol.FieldsOf(
				"clientID", in.clientID, "producerGroup", "", "consumerGroup", group), nil)
			if _, err := in.invoke(ctx, name, addr, req); err != nil {
				in.log.Debug("petrel client: unregister", "group", group, "err", err)
			}
		}()
	}
	wg.Wait()
}

// consumerData is the group's entry in heartbeats.
func (c *PushConsumer) consumerData() body.ConsumerData {
	c.mu.Lock()
	defer c.mu.Unlock()
	cd := body.ConsumerData{
		GroupName: c.cfg.Group, ConsumeType: body.ConsumePassively, MessageModel: c.cfg.Model.String(),
		ConsumeFromWhere: c.cfg.ConsumeFrom.String(), SubscriptionDataSet: make([]body.SubscriptionData, 0, len(c.subs)),
	}
	for _, s := range c.subs {
		cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, s.data)
	}
	return cd
}

// subscriptions returns the subscribed topics (read-only after Start).
func (c *PushConsumer) subscriptions() []*subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		out = append(out, s)
	}
	return out
}

// notifyRebalance asks run for a rebalance now (NOTIFY_CONSUMER_IDS_CHANGED).
func (c *PushConsumer) notifyRebalance() {
	select {
	case c.rebalance <- struct{}{}:
	default:
	}
}

// Assignment returns the queues this member consumes now.
func (c *PushConsumer) Assignment() []MessageQueue {
	c.mu.Lock()
	t := c.table
	c.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.queues()
}

// restoreRetryTopic shows a redelivered message with the topic it was
// first sent to, as the official clients do; its Queue stays the retry
// queue it came from.
func restoreRetryTopic(m *MessageExt) {
	if rt := m.Properties[message.PropertyRetryTopic]; rt != "" && strings.HasPrefix(m.Topic, RetryTopicPrefix) {
		m.Topic = rt
	}
}
