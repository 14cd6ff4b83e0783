package config

import (
	"io"
	"net"
	"strconv"
	"time"
)

// Namesrv is every namesrv.conf key petrel's name server honours: where it
// listens, and how long an idle connection may stay open.
type Namesrv struct {
	BindAddress              string        // bindAddress
	ListenPort               int           // listenPort
	ServerChannelMaxIdleTime time.Duration // serverChannelMaxIdleTimeSeconds (s); 0 never
}

// DefaultNamesrv returns RocketMQ's name server defaults: every interface,
// port 9876.
func DefaultNamesrv() *Namesrv {
	return &Namesrv{BindAddress: "0.0.0.0", ListenPort: 9876, ServerChannelMaxIdleTime: 120 * time.Second}
}

var namesrvKeys = newKeyTable("name server", []keySpec[Namesrv]{
	stringKey("bindAddress", func(n *Namesrv) *string { return &n.BindAddress }, checkOptionalHost,
		"Local address to listen on; empty or 0.0.0.0 means every interface."),
	intKey("listenPort", func(n *Namesrv) *int { return &n.ListenPort }, between(1, 65535),
		"TCP port for clients and brokers."),
	durationKey("serverChannelMaxIdleTimeSeconds", func(n *Namesrv) *time.Duration { return &n.ServerChannelMaxIdleTime },
		time.Second, "seconds", 0, maxJavaInt, "Seconds after which an idle connection is closed; 0 never closes."),
}, nil, DefaultNamesrv, nil)

// LoadNamesrv reads a namesrv.conf the way LoadBroker reads a broker.conf.
func LoadNamesrv(path string) (*Namesrv, Warnings, error) { return namesrvKeys.loadFile(path) }

// ParseNamesrv is LoadNamesrv on a reader; name is used in messages.
func ParseNamesrv(r io.Reader, name string) (*Namesrv, Warnings, error) {
	return namesrvKeys.load(r, name)
}

// Set overrides one key, as Broker.Set does.
func (n *Namesrv) Set(key, value string) error { return namesrvKeys.set(n, key, value) }

// SetListenAddr sets bindAddress and listenPort from "host:port" (the
// --listen flag; an empty host means every interface).
func (n *Namesrv) SetListenAddr(hostport string) error {
	host, port, err := splitListenAddr(hostport)
	if err != nil {
		return err
	}
	n.BindAddress, n.ListenPort = host, port
	return nil
}

// ListenAddr is the address to listen on, bindAddress:listenPort.
func (n *Namesrv) ListenAddr() string {
	return net.JoinHostPort(n.BindAddress, strconv.Itoa(n.ListenPort))
}

// Validate checks every field against its key's rules.
func (n *Namesrv) Validate() error { return namesrvKeys.validate(n) }

// Properties renders the effective configuration in a stable order.
func (n *Namesrv) Properties() []Property { return namesrvKeys.properties(n) }

// String renders Properties in properties-file syntax.
func (n *Namesrv) String() string { return FormatProperties(n.Properties()) }

// NamesrvKeys documents every name server key.
func NamesrvKeys() []KeyDoc { return namesrvKeys.docs() }
