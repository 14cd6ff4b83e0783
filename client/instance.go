package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// Defaults of Config fields left zero.
const (
	// DefaultRouteRefreshInterval is RocketMQ's pollNameServerInterval.
	DefaultRouteRefreshInterval = 30 * time.Second
	// DefaultHeartbeatInterval is RocketMQ's heartbeatBrokerInterval.
	DefaultHeartbeatInterval = 30 * time.Second
	// DefaultRequestTimeout bounds route queries and heartbeats.
	DefaultRequestTimeout = 3 * time.Second
)

// Config is what producers and consumers of one process share: where the
// name servers are and who this client is. Producers and consumers with
// the same client id and name servers share one client instance (routes,
// connections, heartbeats), as RocketMQ's clients do; the first one's
// other settings win.
type Config struct {
	// NameServers are the name servers' host:port addresses (required).
	NameServers []string
	// InstanceName is the part of the client id after '@'; empty means the
	// process id. Two producers of one group need different instance names.
	InstanceName string
	// Logger receives the client's logs; nil means slog.Default().
	Logger *slog.Logger
	// RouteRefreshInterval is how often routes of the topics in use are
	// fetched again; zero means DefaultRouteRefreshInterval.
	RouteRefreshInterval time.Duration
	// HeartbeatInterval is how often every broker of those routes gets a
	// heartbeat; zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// RequestTimeout bounds route queries and heartbeats; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// instance is the client instance (RocketMQ's MQClientInstance): one per
// client id and name-server list, shared by reference count between the
// producers and consumers of a process. It owns
//
//   - the route cache (route.go), refreshed every RouteRefreshInterval;
//   - the broker connections (a remoting.Client);
//   - heartbeats to every broker of the cached routes (heartbeat.go), at
//     start, every HeartbeatInterval and as soon as a new broker appears;
//   - the handlers of requests brokers send to the client (mux);
//   - one goroutine, run, which it stops and waits for in close.
//
// Producers and consumers join with addProducer / addConsumer so the
// heartbeat names their groups, and leave before release.
type instance struct {
	key         string
	clientID    string
	nameServers []string
	log         *slog.Logger
	rc          *remoting.Client
	mux         *remoting.Mux
	cfg         Config // defaults applied

	nsNext atomic.Uint32 // round robin over name servers

	routes struct {
		sync.RWMutex
		topics  map[string]*topicRoute
		brokers map[string]map[int64]string // brokerName → brokerId → address
	}

	members struct {
		sync.Mutex
		producers map[string]*Producer
		consumers map[string]consumerMember
	}

	hbMu sync.Mutex // one heartbeat round at a time

	ctx    context.Context // cancelled by close: ends run and its requests
	cancel context.CancelFunc
	wake   chan struct{} // ask run for a heartbeat now; capacity 1
	done   chan struct{} // closed when run returns

	refs int // guarded by registry.mu
}

// consumerMember is a consumer group of this instance. The consumer side
// implements it; heartbeats carry its consumerData.
type consumerMember interface {
	consumerData() body.ConsumerData
}

// registry holds the live instances by key.
var registry struct {
	sync.Mutex
	m map[string]*instance
}

// acquireInstance returns the instance for cfg, starting it if it is the
// first user. Each call must be paired with release.
func acquireInstance(cfg Config) (*instance, error) {
	if len(cfg.NameServers) == 0 {
		return nil, errors.New("petrel client: Config.NameServers is empty")
	}
	for _, a := range cfg.NameServers {
		if !strings.Contains(a, ":") {
			return nil, fmt.Errorf("petrel client: name server %q is not host:port", a)
		}
	}
	if cfg.InstanceName == "" {
		cfg.InstanceName = strconv.Itoa(os.Getpid())
	}
	ip := localIPv4()
	clientID := fmt.Sprintf("%d.%d.%d.%d@%s", ip[0], ip[1], ip[2], ip[3], cfg.InstanceName)
	ns := slices.Clone(cfg.NameServers)
	slices.Sort(ns)
	key := clientID + "|" + strings.Join(ns, ";")

	registry.Lock()
	defer registry.Unlock()
	if in := registry.m[key]; in != nil {
		in.refs++
		return in, nil
	}
	in := newInstance(cfg, clientID, key)
	if registry.m == nil {
		registry.m = make(map[string]*instance)
	}
	registry.m[key] = in
	in.refs = 1
	go in.run()
	return in, nil
}

func newInstance(cfg Config, clientID, key string) *instance {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RouteRefreshInterval <= 0 {
		cfg.RouteRefreshInterval = DefaultRouteRefreshInterval
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	in := &instance{
		key:         key,
		clientID:    clientID,
		nameServers: slices.Clone(cfg.NameServers),
		log:         cfg.Logger.With("clientId", clientID),
		mux:         remoting.NewMux(),
		cfg:         cfg,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.routes.topics = make(map[string]*topicRoute)
	in.routes.brokers = make(map[string]map[int64]string)
	in.members.producers = make(map[string]*Producer)
	in.members.consumers = make(map[string]consumerMember)
	// Requests brokers send to clients. Consumers add theirs here
	// (NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, ...).
	in.mux.HandleFunc(protocol.CheckTransactionState, in.handleCheckTransaction)
	in.mux.HandleFunc(protocol.NotifyConsumerIDsChanged, in.handleNotifyConsumerIDsChanged)
	in.mux.HandleFunc(protocol.ResetConsumerClientOffset, in.handleResetConsumerClientOffset)
	in.mux.HandleFunc(protocol.GetConsumerRunningInfo, in.handleGetConsumerRunningInfo)
	in.mux.HandleFunc(protocol.ConsumeMessageDirectly, in.handleConsumeMessageDirectly)
	in.rc = remoting.NewClient(remoting.ClientOptions{Handler: in.mux, Logger: in.log})
	return in
}

// release drops one reference; the last one closes the instance.
func (in *instance) release() {
	registry.Lock()
	in.refs--
	last := in.refs == 0
	if last {
		delete(registry.m, in.key)
	}
	registry.Unlock()
	if last {
		in.close()
	}
}

// close stops the background goroutine, then closes every connection and
// waits for the handlers running on them.
func (in *instance) close() {
	in.cancel()
	<-in.done
	in.rc.Close()
}

// run is the instance's one goroutine: route refreshes and heartbeats.
func (in *instance) run() {
	defer close(in.done)
	in.heartbeat()
	refresh := time.NewTicker(in.cfg.RouteRefreshInterval)
	defer refresh.Stop()
	beat := time.NewTicker(in.cfg.HeartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-refresh.C:
			in.refreshRoutes()
		case <-beat.C:
			in.heartbeat()
		case <-in.wake:
			in.heartbeat()
		}
	}
}

// heartbeatSoon asks run for a heartbeat round without waiting for it.
func (in *instance) heartbeatSoon() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// addProducer registers a producer group; a group may have one producer
// per instance (RocketMQ refuses a second one too).
func (in *instance) addProducer(p *Producer) error {
	in.members.Lock()
	defer in.members.Unlock()
	if _, dup := in.members.producers[p.cfg.Group]; dup {
		return fmt.Errorf("petrel client: producer group %q already has a producer in client %s; give the second one another InstanceName", p.cfg.Group, in.clientID)
	}
	in.members.producers[p.cfg.Group] = p
	return nil
}

func (in *instance) removeProducer(group string) {
	in.members.Lock()
	defer in.members.Unlock()
	delete(in.members.producers, group)
}

// addConsumer registers a consumer group (see addProducer).
func (in *instance) addConsumer(group string, c consumerMember) error {
	in.members.Lock()
	defer in.members.Unlock()
	if _, dup := in.members.consumers[group]; dup {
		return fmt.Errorf("petrel client: consumer group %q already has a consumer in client %s", group, in.clientID)
	}
	in.members.consumers[group] = c
	return nil
}

func (in *instance) removeConsumer(group string) {
	in.members.Lock()
	defer in.members.Unlock()
	delete(in.members.consumers, group)
}

func (in *instance) producer(group string) *Producer {
	in.members.Lock()
	defer in.members.Unlock()
	return in.members.producers[group]
}

// invoke sends a request to a broker (or name server) and turns a failed
// transport into a *BrokerError naming it.
func (in *instance) invoke(ctx context.Context, brokerName, addr string, req *protocol.Command) (*protocol.Command, error) {
	return in.invokeUntil(ctx, brokerName, addr, req, time.Time{})
}

// invokeUntil is invoke whose wait also ends at deadline (zero: none).
func (in *instance) invokeUntil(ctx context.Context, brokerName, addr string, req *protocol.Command, deadline time.Time) (*protocol.Command, error) {
	resp, err := in.rc.InvokeUntil(ctx, addr, req, deadline)
	if err != nil {
		return nil, &BrokerError{Op: protocol.RequestName(req.Code), Broker: brokerName, Addr: addr, Err: err}
	}
	return resp, nil
}
