package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Broker is a running broker.
type Broker struct {
	cfg *config.Broker
	log *slog.Logger
	fs  vfs.FS
	now func() time.Time

	store   *store.Store
	topics  *topicManager
	groups  *groupManager
	offsets *offsetStore
	clients *clientRegistry
	holds   *pullHolds
	sched   *scheduler
	timers  *timerService
	tx      *transactionService
	locks   *lockTable

	storeHost netip.AddrPort
	listener  net.Listener
	server    *remoting.Server
	nsClient  *remoting.Client

	registerMu sync.Mutex // one registration round at a time

	stop     chan struct{}
	started  bool
	wg       sync.WaitGroup
	served   chan error
	shutOnce sync.Once
	shutErr  error
}

// New opens the broker's store and metadata and listens; Start serves.
func New(opts Options) (*Broker, error) {
	c := opts.Config
	if c == nil {
		return nil, errors.New("broker: no config")
	}
	if c.StorePathRootDir == "" {
		return nil, fmt.Errorf("broker: %w", errNoStoreDir)
	}
	b := &Broker{cfg: c, log: opts.Logger, fs: opts.FS, now: opts.Now, listener: opts.Listener,
		clients: newClientRegistry(), locks: newLockTable(), stop: make(chan struct{}), served: make(chan error, 1)}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.fs == nil {
		b.fs = vfs.Default
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.listener == nil {
		l, err := net.Listen("tcp", c.ListenAddr())
		if err != nil {
			return nil, fmt.Errorf("broker: listen on %s: %w", c.ListenAddr(), err)
		}
		b.listener = l
	}
	port, err := listenPortOf(b.listener)
	if err != nil {
		b.listener.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if b.storeHost, err = AdvertisedAddr(c, port); err != nil {
		b.listener.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.holds = newPullHolds(b)
	b.sched = newScheduler(b, b.fs, metaDir(c)) // before the store: recovery reports arrivals
	b.timers = newTimerService(b, b.fs, metaDir(c))
	b.tx = newTransactionService(b, b.fs, metaDir(c))
	scfg := storeConfig(c, b.storeHost, b.fs, b.log, b.now)
	scfg.Arrival = b
	scfg.TagsCode = b.tagsCodeHook
	scfg.RetentionFloor = b.retentionFloor
	if b.store, err = store.Open(scfg); err != nil {
		b.listener.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	nowMs := func() int64 { return b.now().UnixMilli() }
	dir := metaDir(c)
	b.topics = newTopicManager(b.fs, dir, nowMs)
	b.groups = newGroupManager(b.fs, dir, c.AutoCreateSubscriptionGroup, nowMs)
	b.offsets = newOffsetStore(b.fs, dir)
	for _, load := range []func() error{func() error { return b.topics.load(c) }, b.groups.load, b.offsets.load, b.sched.load, b.timers.load, b.tx.load} {
		if err := load(); err != nil {
			b.store.Close()
			b.listener.Close()
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	b.server = &remoting.Server{
		Handler:     b.mux(),
		Logger:      b.log,
		IdleTimeout: c.ServerChannelMaxIdleTime,
		ConnState:   b.connState,
		Inline:      inlineSends(c.FlushDiskType),
		RecycleBody: isSend,
	}
	if c.ServerChannelMaxIdleTime == 0 {
		b.server.IdleTimeout = -1
	}
	b.server.RegisterOnShutdown(b.holds.releaseAll)
	b.nsClient = remoting.NewClient(remoting.ClientOptions{Logger: b.log})
	return b, nil
}

// inlineSends picks the requests the connection reader serves itself (see
// remoting.Server.Inline): sends under ASYNC_FLUSH, whose handler only
// appends to the page cache and answers. Under SYNC_FLUSH a send waits for
// its group commit, which would stop the connection's reading (a
// pipelining producer's next sends) for a sync. Serving them inline made a
// broker's 16 sync producers about 10% faster (docs/benchmarks.md).
func inlineSends(flush config.FlushDiskType) func(*protocol.Command) bool {
	if flush != config.AsyncFlush {
		return nil
	}
	return isSend
}

// isSend reports a send request. Their bodies are also recycled (see
// remoting.Server.RecycleBody): the store copies a message into the commit
// log (or the group commit's stage) before the handler answers, and
// nothing else of the broker keeps the body, as with the pooled property
// buffers of handleSend.
func isSend(cmd *protocol.Command) bool {
	switch cmd.Code {
	case protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage:
		return true
	}
	return false
}

func (b *Broker) mux() *remoting.Mux {
	m := remoting.NewMux()
	for code, h := range map[int32]remoting.HandlerFunc{
		protocol.SendMessage:                      b.handleSend,
		protocol.SendMessageV2:                    b.handleSend,
		protocol.SendBatchMessage:                 b.handleSend,
		protocol.PullMessage:                      b.handlePull,
		protocol.QueryConsumerOffset:              b.handleQueryConsumerOffset,
		protocol.UpdateConsumerOffset:             b.handleUpdateConsumerOffset,
		protocol.GetMaxOffset:                     b.handleGetMaxOffset,
		protocol.GetMinOffset:                     b.handleGetMinOffset,
		protocol.SearchOffsetByTimestamp:          b.handleSearchOffsetByTimestamp,
		protocol.GetEarliestMsgStoreTime:          b.handleGetEarliestMsgStoreTime,
		protocol.HeartBeat:                        b.handleHeartbeat,
		protocol.UnregisterClient:                 b.handleUnregisterClient,
		protocol.GetConsumerListByGroup:           b.handleGetConsumerList,
		protocol.UpdateAndCreateTopic:             b.handleCreateTopic,
		protocol.DeleteTopicInBroker:              b.handleDeleteTopic,
		protocol.GetAllTopicConfig:                b.handleGetAllTopicConfig,
		protocol.GetTopicStatsInfo:                b.handleGetTopicStats,
		protocol.UpdateAndCreateSubscriptionGroup: b.handleCreateGroup,
		protocol.GetAllSubscriptionGroupConfig:    b.handleGetAllGroups,
		protocol.DeleteSubscriptionGroup:          b.handleDeleteGroup,
		protocol.QueryMessage:                     b.handleQueryMessage,
		protocol.ConsumerSendMsgBack:              b.handleSendBack,
		protocol.LockBatchMQ:                      b.handleLockBatch,
		protocol.UnlockBatchMQ:                    b.handleUnlockBatch,
		protocol.GetConsumeStats:                  b.handleGetConsumeStats,
		protocol.GetConsumerConnectionList:        b.handleGetConsumerConnectionList,
		protocol.QueryTopicConsumeByWho:           b.handleQueryTopicConsumeByWho,
		protocol.InvokeBrokerToResetOffset:        b.handleResetOffset,
		protocol.ViewMessageByID:                  b.handleViewMessageByID,
		protocol.EndTransaction:                   b.handleEndTransaction,
		protocol.GetConsumerRunningInfo:           b.handleGetConsumerRunningInfo,
		protocol.ConsumeMessageDirectly:           b.handleConsumeMessageDirectly,
	} {
		m.Handle(code, h)
	}
	return m
}

// connState drops a client's registrations as soon as its connection
// closes, and tells its groups to rebalance.
func (b *Broker) connState(c *remoting.Conn, s remoting.ConnState) {
	if s == remoting.StateClosed {
		b.notifyConsumerIDsChanged(b.clients.remove(c.ID()))
	}
}

// Arrived implements store.ArrivalListener: held pulls on the queue wake,
// and the scheduler hears of new delayed messages.
func (b *Broker) Arrived(topic string, queueID int32, queueOffset, tagsCode, storeTs int64) {
	b.holds.Arrived(topic, queueID, queueOffset, tagsCode, storeTs)
	switch topic {
	case TopicSchedule:
		b.sched.arrived(queueID)
	case TopicTimer:
		b.timers.arrived()
	}
}

// retentionFloor is the store's RetentionFloor hook: the oldest message
// still to be delivered by the scheduler or the timer service, or still
// awaiting its transaction's end.
func (b *Broker) retentionFloor() int64 {
	return min(b.sched.pendingFloor(), b.timers.pendingFloor(), b.tx.pendingFloor())
}

// Addr is the address the broker registers and clients dial.
func (b *Broker) Addr() netip.AddrPort { return b.storeHost }

// ListenAddr is the address the broker listens on.
func (b *Broker) ListenAddr() net.Addr { return b.listener.Addr() }

// Store exposes the message store (for tests and tools in this module).
func (b *Broker) Store() *store.Store { return b.store }

// Start serves requests and starts the background tasks: registration
// with the name servers, offset persistence, client expiry.
func (b *Broker) Start() {
	b.started = true
	go func() { b.served <- b.server.Serve(b.listener) }()
	b.sched.start()
	b.timers.start()
	b.tx.start()
	b.registerNow()
	b.every(b.cfg.RegisterNameServerPeriod, b.registerNow)
	b.every(b.cfg.FlushConsumerOffsetInterval, func() {
		if err := b.offsets.flush(); err != nil {
			b.log.Error("persist consumer offsets", "err", err)
		}
	})
	b.every(10*time.Second, func() {
		b.notifyConsumerIDsChanged(b.clients.expire(b.now().Add(-b.cfg.ChannelExpiredTimeout)))
	})
}

// every runs f every period until Shutdown.
func (b *Broker) every(period time.Duration, f func()) {
	if period <= 0 {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f()
			case <-b.stop:
				return
			}
		}
	}()
}

// Shutdown stops the broker gracefully: it leaves the name servers, stops
// accepting, answers held pulls, waits for in-flight requests, persists
// offsets and metadata, and closes the store (which writes its clean
// shutdown mark).
func (b *Broker) Shutdown(ctx context.Context) error {
	b.shutOnce.Do(func() { b.shutErr = b.shutdown(ctx) })
	return b.shutErr
}

func (b *Broker) shutdown(ctx context.Context) error {
	close(b.stop)
	b.wg.Wait()
	b.unregister(ctx)
	var errs []error
	if err := b.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop serving: %w", err))
	}
	select {
	case err := <-b.served:
		if err != nil && !errors.Is(err, remoting.ErrServerClosed) {
			errs = append(errs, err)
		}
	default: // Start was never called
		b.listener.Close()
	}
	if b.started {
		if err := b.sched.close(); err != nil {
			errs = append(errs, fmt.Errorf("stop delay scheduler: %w", err))
		}
		if err := b.timers.close(); err != nil {
			errs = append(errs, fmt.Errorf("stop timer service: %w", err))
		}
		if err := b.tx.close(); err != nil {
			errs = append(errs, fmt.Errorf("stop transaction checker: %w", err))
		}
	}
	if err := b.offsets.flush(); err != nil {
		errs = append(errs, fmt.Errorf("persist consumer offsets: %w", err))
	}
	if err := b.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	b.nsClient.Close()
	return errors.Join(errs...)
}
