package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// Defaults of ProducerConfig fields left zero.
const (
	DefaultProducerGroup    = "DEFAULT_PRODUCER"
	DefaultSendTimeout      = 3 * time.Second
	DefaultRetryTimes       = 2
	DefaultCompressOver     = 4 << 10
	DefaultMaxMessageSize   = 4 << 20
	DefaultMaxAsyncInFlight = 10000
)

// ProducerConfig configures a Producer; zero fields take the defaults.
type ProducerConfig struct {
	Config
	// Group is the producer group; empty means DefaultProducerGroup. A
	// transactional producer's group is where brokers send check-backs.
	Group string
	// SendTimeout bounds a whole send, retries included (RocketMQ's
	// sendMsgTimeout); a sooner ctx deadline wins. Zero means 3 s. A
	// SendAsync that travels in a batch may fail up to 100 ms after it:
	// its deadline is checked by a periodic sweep, not a timer per send.
	SendTimeout time.Duration
	// RetryTimes is how many more attempts a failed send gets, each on
	// another broker when the topic has one (retryTimesWhenSendFailed;
	// asynchronous sends too). Zero means 2; negative means none.
	RetryTimes int
	// RetryAnotherBrokerWhenNotStoreOK retries sends the broker stored but
	// did not flush or replicate in time (FLUSH_DISK_TIMEOUT,
	// FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE), accepting duplicates for
	// durability. By default those statuses are returned as they are.
	RetryAnotherBrokerWhenNotStoreOK bool
	// Selector picks queues; nil means a RoundRobinSelector, which avoids
	// brokers that failed or answered slowly.
	Selector QueueSelector
	// CompressOver is the body size from which single messages are
	// zlib-compressed, as the official clients do; zero means 4 KiB,
	// negative disables compression.
	CompressOver int
	// MaxMessageSize is the largest body (or batch) accepted; zero means
	// 4 MiB, the brokers' default.
	MaxMessageSize int
	// MaxAsyncInFlight bounds SendAsync calls awaiting their result;
	// SendAsync blocks while the bound is reached. Zero means 10000.
	MaxAsyncInFlight int
	// TransactionListener runs local transactions and answers brokers'
	// check-backs; SendInTransaction needs it.
	TransactionListener TransactionListener
	// DisableAutoBatch sends every SendAsync message in a request of its
	// own. By default, while a topic has several SendAsync requests in
	// flight, further messages gather and go as one batch request when an
	// answer comes back (see autobatch.go); each keeps its own callback and
	// result. Batching applies only with the default Selector, to
	// messages without delay and below CompressOver.
	DisableAutoBatch bool
	// Spool, if set, keeps Send accepting messages while no name server or
	// broker answers: see SpoolConfig.
	Spool *SpoolConfig
}

// Producer sends messages. It is safe for concurrent use. Close it to stop
// its goroutines and close its connections.
type Producer struct {
	cfg      ProducerConfig
	inst     *instance
	log      *slog.Logger
	selector QueueSelector
	faults   *faultTracker
	slots    chan struct{} // async sends in flight

	life struct {
		sync.RWMutex
		closed bool
	}
	// closing is cancelled when Close starts, ending listener calls that
	// wait on it.
	closing  context.Context
	stopAll  context.CancelFunc
	inflight sync.WaitGroup // sends (sync, async, transactional) not finished
	spool    *producerSpool // nil without ProducerConfig.Spool
	acc      *accumulator   // SendAsync batching; nil when disabled
}

// NewProducer returns a started producer. It dials nothing until the first
// send: routes are fetched and connections opened on demand.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultProducerGroup
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	switch {
	case cfg.RetryTimes == 0:
		cfg.RetryTimes = DefaultRetryTimes
	case cfg.RetryTimes < 0:
		cfg.RetryTimes = 0
	}
	if cfg.CompressOver == 0 {
		cfg.CompressOver = DefaultCompressOver
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxAsyncInFlight <= 0 {
		cfg.MaxAsyncInFlight = DefaultMaxAsyncInFlight
	}
	defaultSelector := cfg.Selector == nil
	if defaultSelector {
		cfg.Selector = NewRoundRobinSelector()
	}
	inst, err := acquireInstance(cfg.Config)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		cfg:      cfg,
		inst:     inst,
		log:      inst.log.With("producerGroup", cfg.Group),
		selector: cfg.Selector,
		faults:   newFaultTracker(),
		slots:    make(chan struct{}, cfg.MaxAsyncInFlight),
	}
	p.closing, p.stopAll = context.WithCancel(context.Background())
	if defaultSelector && !cfg.DisableAutoBatch {
		p.acc = newAccumulator(p)
	}
	if cfg.Spool != nil {
		if err := p.openSpool(); err != nil {
			inst.release()
			return nil, err
		}
	}
	if err := inst.addProducer(p); err != nil {
		if p.spool != nil {
			p.spool.disk.close()
		}
		inst.release()
		return nil, err
	}
	if p.spool != nil {
		p.startSpool()
	}
	return p, nil
}

// ClientID returns the client id brokers know this producer by (ip@instance).
func (p *Producer) ClientID() string { return p.inst.clientID }

// Close stops accepting sends, waits for the sends in flight to finish
// (each within its send timeout; asynchronous callbacks have run when
// Close returns), then leaves the client instance, the last user of which
// closes its connections and stops its goroutine.
func (p *Producer) Close() error {
	p.life.Lock()
	if p.life.closed {
		p.life.Unlock()
		return nil
	}
	p.life.closed = true
	p.life.Unlock()
	p.stopAll()
	p.inflight.Wait()
	p.closeSpool()
	p.inst.removeProducer(p.cfg.Group)
	p.inst.release()
	return nil
}

// begin counts a send in flight; false once the producer is closed.
func (p *Producer) begin() bool {
	p.life.RLock()
	defer p.life.RUnlock()
	if p.life.closed {
		return false
	}
	p.inflight.Add(1)
	return true
}

func (p *Producer) end() { p.inflight.Done() }

// SendStatus is how durable a stored message is.
type SendStatus int

// Send statuses (RocketMQ's SendStatus, and SendSpooled). Every status but
// SendSpooled means the broker stored the message; only SendOK means it is
// as durable as the broker is configured to make it. SendSpooled means no
// broker answered and the message is in the producer's spool
// (ProducerConfig.Spool), to be sent later under the same MsgID.
const (
	SendOK SendStatus = iota
	SendFlushDiskTimeout
	SendFlushSlaveTimeout
	SendSlaveNotAvailable
	SendSpooled
)

// String returns RocketMQ's name of the status.
func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	case SendSpooled:
		return "SPOOLED"
	}
	return fmt.Sprintf("SendStatus(%d)", int(s))
}

// SendResult is a broker's answer to a send.
type SendResult struct {
	Status SendStatus
	// MsgID is the message's unique id (UNIQ_KEY); for a batch, the ids
	// joined by commas.
	MsgID string
	// OffsetMsgID is the broker's id of the stored message (store host and
	// commit-log offset); for a batch, the ids joined by commas.
	OffsetMsgID string
	// Queue is where the message was stored.
	Queue MessageQueue
	// QueueOffset is its offset in the queue (for a batch, the first's).
	// For delayed and transactional messages it is the offset in the
	// broker's holding queue.
	QueueOffset int64
	// TransactionID is set by brokers that assign one (RocketMQ 5).
	TransactionID string
	// RegionID is the broker's region (MSG_REGION).
	RegionID string
	// BrokerAddr is the address of the broker that answered.
	BrokerAddr string
	// Attempts is how many attempts the send took.
	Attempts int
}

func statusOf(code int32) (SendStatus, bool) {
	switch code {
	case protocol.Success:
		return SendOK, true
	case protocol.FlushDiskTimeout:
		return SendFlushDiskTimeout, true
	case protocol.FlushSlaveTimeout:
		return SendFlushSlaveTimeout, true
	case protocol.SlaveNotAvailable:
		return SendSlaveNotAvailable, true
	}
	return 0, false
}

// retryableCodes are the response codes after which a send is tried again
// (RocketMQ's retryResponseCodes, plus SYSTEM_BUSY: a busy broker stored
// nothing, and the retry goes to another broker when there is one).
var retryableCodes = map[int32]bool{
	protocol.TopicNotExist: true, protocol.ServiceNotAvailable: true, protocol.SystemError: true,
	protocol.NoPermission: true, protocol.NoBuyerID: true, protocol.NotInCurrentUnit: true,
	protocol.SystemBusy: true,
}

// retryable reports whether a failed attempt may be tried again: a
// retryable code, or a transport failure that is not the send's own
// context ending.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var be *BrokerError
	if !errors.As(err, &be) {
		return false
	}
	if be.Err != nil {
		return !errors.Is(be.Err, context.Canceled) && !errors.Is(be.Err, context.DeadlineExceeded)
	}
	return retryableCodes[be.Code]
}
