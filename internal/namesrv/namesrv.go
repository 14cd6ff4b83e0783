package namesrv

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Defaults of Options left zero (RocketMQ's BROKER_CHANNEL_EXPIRED_TIME and
// scanNotActiveBroker period).
const (
	DefaultBrokerExpiry = 120 * time.Second
	DefaultScanInterval = 10 * time.Second
)

// Options configures a Namesrv; zero fields take defaults.
type Options struct {
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock liveness is measured with; nil means time.Now.
	Now func() time.Time
	// BrokerExpiry removes a broker address not registered for this long;
	// zero means DefaultBrokerExpiry (120 s).
	BrokerExpiry time.Duration
	// ScanInterval is how often expiry is checked; zero means
	// DefaultScanInterval (10 s).
	ScanInterval time.Duration
}

// Namesrv is the name server: a remoting.Handler over a RouteTable and an
// in-memory KV config store. Wire ConnState into remoting.Server.ConnState
// so a broker leaves the routes as soon as its connection closes.
type Namesrv struct {
	opts Options
	log  *slog.Logger
	mux  *remoting.Mux
	kv   kvConfig
	// scans counts finished expiry scans, so tests can wait for one.
	scans atomic.Int64

	mu struct {
		sync.RWMutex
		routes *RouteTable
		// owner is the connection whose registration of an address came
		// last; only its closing removes the address, so a broker that
		// re-registered on a new connection survives its old one closing.
		owner     map[string]uint64              // broker address → conn id
		connAddrs map[uint64]map[string]struct{} // conn id → addresses it owns
	}

	life struct {
		sync.Mutex
		started, closed bool
		stop, done      chan struct{}
	}
}

// New returns a name server with an empty route table. Call Start to run
// the expiry scanner.
func New(opts Options) *Namesrv {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BrokerExpiry <= 0 {
		opts.BrokerExpiry = DefaultBrokerExpiry
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = DefaultScanInterval
	}
	n := &Namesrv{opts: opts, log: opts.Logger, mux: remoting.NewMux()}
	n.mu.routes = NewRouteTable()
	n.mu.owner = make(map[string]uint64)
	n.mu.connAddrs = make(map[uint64]map[string]struct{})
	n.kv.table = make(map[string]map[string]string)
	n.routeHandlers()
	return n
}

// ServeRemoting answers a request; unknown codes get
// REQUEST_CODE_NOT_SUPPORTED.
func (n *Namesrv) ServeRemoting(req *remoting.Request) *protocol.Command {
	return n.mux.ServeRemoting(req)
}

// Start starts the goroutine that removes expired brokers every
// ScanInterval. Calling it again, or after Close, does nothing.
func (n *Namesrv) Start() {
	n.life.Lock()
	defer n.life.Unlock()
	if n.life.started || n.life.closed {
		return
	}
	n.life.started = true
	n.life.stop = make(chan struct{})
	n.life.done = make(chan struct{})
	go n.scanLoop(n.life.stop, n.life.done)
}

// Close stops the expiry scanner and waits for it to exit. The handlers
// keep answering from the table; stop the remoting.Server first.
func (n *Namesrv) Close() {
	n.life.Lock()
	if n.life.closed {
		n.life.Unlock()
		return
	}
	n.life.closed = true
	started := n.life.started
	n.life.Unlock()
	if started {
		close(n.life.stop)
		<-n.life.done
	}
}

func (n *Namesrv) scanLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(n.opts.ScanInterval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			n.expireBrokers()
		}
	}
}

// expireBrokers removes the addresses not registered for BrokerExpiry.
func (n *Namesrv) expireBrokers() {
	n.mu.Lock()
	expired := n.mu.routes.ExpireBrokers(n.opts.Now(), n.opts.BrokerExpiry)
	for _, addr := range expired {
		n.disownLocked(addr)
	}
	n.mu.Unlock()
	n.scans.Add(1)
	for _, addr := range expired {
		n.log.Warn("broker expired: no registration within the expiry time",
			"brokerAddr", addr, "expiry", n.opts.BrokerExpiry)
	}
}

// ConnState is meant for remoting.Server.ConnState: when a connection that
// registered broker addresses closes, the addresses it still owns leave the
// route table at once (RocketMQ's onChannelDestroy).
func (n *Namesrv) ConnState(c *remoting.Conn, s remoting.ConnState) {
	if s != remoting.StateClosed {
		return
	}
	id := c.ID()
	n.mu.Lock()
	var removed []string
	for addr := range n.mu.connAddrs[id] {
		if n.mu.owner[addr] == id && n.mu.routes.RemoveBrokerAddr(addr) {
			removed = append(removed, addr)
		}
		delete(n.mu.owner, addr)
	}
	delete(n.mu.connAddrs, id)
	n.mu.Unlock()
	for _, addr := range removed {
		n.log.Info("broker removed: its connection closed", "brokerAddr", addr, "conn", c.String())
	}
}

// ownLocked records that conn id registered addr last.
func (n *Namesrv) ownLocked(addr string, id uint64) {
	if prev, ok := n.mu.owner[addr]; ok && prev != id {
		n.forgetConnAddrLocked(prev, addr)
	}
	n.mu.owner[addr] = id
	set := n.mu.connAddrs[id]
	if set == nil {
		set = make(map[string]struct{})
		n.mu.connAddrs[id] = set
	}
	set[addr] = struct{}{}
}

// disownLocked forgets who registered addr once it has left the table.
func (n *Namesrv) disownLocked(addr string) {
	if _, live := n.mu.routes.BrokerLive(addr); live {
		return
	}
	if id, ok := n.mu.owner[addr]; ok {
		n.forgetConnAddrLocked(id, addr)
		delete(n.mu.owner, addr)
	}
}

func (n *Namesrv) forgetConnAddrLocked(id uint64, addr string) {
	set := n.mu.connAddrs[id]
	delete(set, addr)
	if len(set) == 0 {
		delete(n.mu.connAddrs, id)
	}
}
