// Package testserver runs an in-process petrel (one name server and one or
// more brokers) on loopback listeners with data in a test's temporary
// directory, for tests of the Go client and other end-to-end tests. Every
// goroutine it starts is stopped by the test's cleanup.
package testserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/broker"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/namesrv"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
)

// Options configures a Cluster; the zero value is one broker with small
// store files and a silent logger.
type Options struct {
	// Brokers is how many brokers to start (named broker-0, broker-1, ...);
	// zero means one.
	Brokers int
	// Configure, if set, adjusts each broker's config before it starts
	// (index is the broker's position).
	Configure func(index int, cfg *config.Broker)
	// Logger receives the servers' logs; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running name server and its brokers.
type Cluster struct {
	// NamesrvAddr is the name server's host:port.
	NamesrvAddr string
	// Brokers are the running brokers, in start order.
	Brokers []*Broker

	tb       testing.TB
	log      *slog.Logger
	ns       *namesrv.Namesrv
	nsServer *remoting.Server
	raw      *remoting.Client
}

// Broker is one running broker.
type Broker struct {
	*broker.Broker
	// Name is the brokerName in routes.
	Name string
	// Addr is the host:port clients dial.
	Addr string
	// Config is the broker's settings.
	Config  *config.Broker
	stopped bool
}

// Start runs a cluster until the test ends.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := opts.Brokers
	if n <= 0 {
		n = 1
	}
	// Directories first: cleanups run last-registered first, and the
	// brokers must stop before their directories are removed.
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = tb.TempDir()
	}
	nsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{tb: tb, log: log, NamesrvAddr: nsLn.Addr().String(),
		raw: remoting.NewClient(remoting.ClientOptions{Logger: log})}
	c.ns = namesrv.New(namesrv.Options{Logger: log})
	c.ns.Start()
	c.nsServer = &remoting.Server{Handler: c.ns, Logger: log, ConnState: c.ns.ConnState}
	served := make(chan error, 1)
	go func() { served <- c.nsServer.Serve(nsLn) }()
	tb.Cleanup(func() {
		c.stop()
		<-served
	})
	for i := range n {
		cfg := BrokerConfig(dirs[i], "broker-"+strconv.Itoa(i))
		cfg.NamesrvAddr = []string{c.NamesrvAddr}
		if opts.Configure != nil {
			opts.Configure(i, cfg)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		b, err := broker.New(broker.Options{Config: cfg, Listener: ln, Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		b.Start() // registers with the name server before returning
		c.Brokers = append(c.Brokers, &Broker{Broker: b, Name: cfg.BrokerName, Addr: ln.Addr().String(), Config: cfg})
	}
	return c
}

// BrokerConfig returns a broker config for tests: loopback, small files,
// ASYNC_FLUSH, no name servers.
func BrokerConfig(dir, name string) *config.Broker {
	cfg := config.DefaultBroker()
	cfg.BrokerName = name
	cfg.StorePathRootDir = dir
	cfg.MappedFileSizeCommitLog = 64 << 20
	cfg.MappedFileSizeConsumeQueue = 100000 * 20
	cfg.MaxHashSlotNum = 1 << 16
	cfg.MaxIndexNum = 1 << 18
	cfg.NamesrvAddr = nil
	cfg.BindAddress = "127.0.0.1"
	return cfg
}

func (c *Cluster) stop() {
	for _, b := range c.Brokers {
		c.StopBroker(b)
	}
	c.raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nsServer.Shutdown(ctx); err != nil {
		c.tb.Errorf("testserver: name server shutdown: %v", err)
	}
	c.ns.Close()
}

// StopBroker shuts a broker down (it unregisters from the name server).
// Stopping it twice does nothing.
func (c *Cluster) StopBroker(b *Broker) {
	if b.stopped {
		return
	}
	b.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		c.tb.Errorf("testserver: broker %s shutdown: %v", b.Name, err)
	}
}

// RestartBroker starts a stopped broker again on the same data directory,
// config and address (clients that knew it reconnect to the same
// host:port); it registers with the name server before returning. The
// address is retried for up to 10 s in case it is briefly taken.
func (c *Cluster) RestartBroker(b *Broker) {
	c.tb.Helper()
	if !b.stopped {
		c.tb.Fatalf("testserver: RestartBroker: broker %s is running", b.Name)
	}
	var ln net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if ln, err = net.Listen("tcp", b.Addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("testserver: RestartBroker: listen on %s again: %v", b.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	nb, err := broker.New(broker.Options{Config: b.Config, Listener: ln, Logger: c.log})
	if err != nil {
		c.tb.Fatalf("testserver: RestartBroker %s: %v", b.Name, err)
	}
	nb.Start()
	b.Broker = nb
	b.stopped = false
}

// Invoke sends a raw remoting request to addr and returns the response.
func (c *Cluster) Invoke(addr string, code int32, ext protocol.Fields, body []byte) *protocol.Command {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.raw.Invoke(ctx, addr, protocol.NewRequest(code, ext, body))
	if err != nil {
		c.tb.Fatalf("testserver: %s to %s: %v", protocol.RequestName(code), addr, err)
	}
	return resp
}

// CreateTopic creates a topic with the given queue count on every broker
// (UPDATE_AND_CREATE_TOPIC registers it with the name server at once).
func (c *Cluster) CreateTopic(topic string, queues int) {
	c.tb.Helper()
	for _, b := range c.Brokers {
		resp := c.Invoke(b.Addr, protocol.UpdateAndCreateTopic, protocol.FieldsOf("topic", topic, "defaultTopic", broker.TopicDefault,
			"readQueueNums", strconv.Itoa(queues), "writeQueueNums", strconv.Itoa(queues), "perm", "6",
			"topicFilterType", "SINGLE_TAG", "topicSysFlag", "0", "order", "false"), nil)
		if resp.Code != protocol.Success {
			c.tb.Fatalf("testserver: create topic %s on %s: %s %s", topic, b.Name, protocol.ResponseName(resp.Code), resp.Remark)
		}
	}
}

// WaitDispatched waits until the broker's store has indexed every message
// written (sends return before consume-queue entries exist).
func (b *Broker) WaitDispatched(tb testing.TB) {
	tb.Helper()
	Eventually(tb, 10*time.Second, func() bool {
		st := b.Store().Stats()
		return st.DispatchedOffset >= st.CommitLogMaxOffset
	})
}

// Messages returns every message of topic stored on this broker, queue by
// queue, in queue order, read straight from the store.
func (b *Broker) Messages(tb testing.TB, topic string) []*message.Ext {
	tb.Helper()
	b.WaitDispatched(tb)
	var out []*message.Ext
	for q := int32(0); q < 1024; q++ {
		maxOff := b.Store().MaxOffset(topic, q)
		if maxOff <= 0 {
			continue
		}
		for off := int64(0); off < maxOff; {
			res := b.Store().GetMessages(topic, q, off, 256, 64<<20, nil, nil)
			if res.Status != store.Found {
				tb.Fatalf("testserver: read %s queue %d offset %d: status %v", topic, q, off, res.Status)
			}
			msgs, err := message.DecodeAll(res.Buffer)
			if err != nil {
				tb.Fatalf("testserver: decode %s queue %d: %v", topic, q, err)
			}
			out = append(out, msgs...)
			off = res.NextBeginOffset
		}
	}
	return out
}

// AllMessages returns the messages of topic on every running broker.
func (c *Cluster) AllMessages(topic string) []*message.Ext {
	c.tb.Helper()
	var out []*message.Ext
	for _, b := range c.Brokers {
		if !b.stopped {
			out = append(out, b.Messages(c.tb, topic)...)
		}
	}
	return out
}

// Eventually polls cond until it holds, failing the test after timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal(fmt.Sprintf("testserver: condition not met within %v", timeout))
		}
		time.Sleep(time.Millisecond)
	}
}
