package config

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// FlushDiskType is RocketMQ's flushDiskType: when a send is acknowledged.
type FlushDiskType string

// Flush disk types.
const (
	// AsyncFlush acknowledges once the message is in the commit log's pages;
	// a background flush runs every flushIntervalCommitLog.
	AsyncFlush FlushDiskType = "ASYNC_FLUSH"
	// SyncFlush acknowledges after fsync (group commit), or answers
	// FLUSH_DISK_TIMEOUT after syncFlushTimeout.
	SyncFlush FlushDiskType = "SYNC_FLUSH"
)

// BrokerRole is RocketMQ's brokerRole.
type BrokerRole string

// Broker roles.
const (
	// AsyncMaster is a master that replicates in the background.
	AsyncMaster BrokerRole = "ASYNC_MASTER"
	// SyncMaster is a master that acknowledges only once a slave has the
	// message.
	SyncMaster BrokerRole = "SYNC_MASTER"
	// Slave is a read-only replica; its brokerId is above 0.
	Slave BrokerRole = "SLAVE"
)

// DefaultBrokerName is RocketMQ's brokerName when the host name is unknown.
const DefaultBrokerName = "DEFAULT_BROKER"

// Broker is every broker.conf key petrel honours, as typed fields. Field
// comments name the RocketMQ key; durations are read in the key's RocketMQ
// unit. Start from DefaultBroker, then LoadBroker/ParseBroker, then Set for
// flags, then Validate.
type Broker struct {
	// Identity.
	BrokerClusterName string     // brokerClusterName
	BrokerName        string     // brokerName
	BrokerID          int64      // brokerId: 0 master, >0 slave
	BrokerRole        BrokerRole // brokerRole
	BrokerPermission  int        // brokerPermission: 4 read | 2 write
	RegionID          string     // regionId

	// Network.
	NamesrvAddr              []string      // namesrvAddr, split at ';'
	BindAddress              string        // bindAddress
	ListenPort               int           // listenPort
	BrokerIP1                string        // brokerIP1; "" means choose one
	RegisterNameServerPeriod time.Duration // registerNameServerPeriod (ms)
	ServerChannelMaxIdleTime time.Duration // serverChannelMaxIdleTimeSeconds (s); 0 never
	ChannelExpiredTimeout    time.Duration // channelExpiredTimeout (ms)

	// Store.
	StorePathRootDir            string        // storePathRootDir; "" means the command decides
	StorePathCommitLog          string        // storePathCommitLog; "" means CommitLogDir()
	MappedFileSizeCommitLog     int64         // mappedFileSizeCommitLog (bytes)
	MappedFileSizeConsumeQueue  int64         // mappedFileSizeConsumeQueue (bytes)
	FlushDiskType               FlushDiskType // flushDiskType
	FlushIntervalCommitLog      time.Duration // flushIntervalCommitLog (ms)
	SyncFlushTimeout            time.Duration // syncFlushTimeout (ms)
	FileReservedTime            time.Duration // fileReservedTime (hours)
	DeleteWhen                  []int         // deleteWhen: hours of the day
	DiskMaxUsedSpaceRatio       int           // diskMaxUsedSpaceRatio (%)
	DiskSpaceWarningLevelRatio  int           // diskSpaceWarningLevelRatio (%)
	DiskSpaceCleanForciblyRatio int           // diskSpaceCleanForciblyRatio (%)
	MaxMessageSize              int           // maxMessageSize (bytes)
	MaxHashSlotNum              int           // maxHashSlotNum
	MaxIndexNum                 int           // maxIndexNum
	FlushConsumerOffsetInterval time.Duration // flushConsumerOffsetInterval (ms)

	// Topics and subscription groups.
	AutoCreateTopicEnable       bool // autoCreateTopicEnable
	AutoCreateSubscriptionGroup bool // autoCreateSubscriptionGroup
	DefaultTopicQueueNums       int  // defaultTopicQueueNums

	// Pull and consume.
	LongPollingEnable                 bool          // longPollingEnable
	ShortPollingTime                  time.Duration // shortPollingTimeMills (ms)
	NotifyConsumerIdsChangedEnable    bool          // notifyConsumerIdsChangedEnable
	MaxTransferBytesOnMessageInMemory int           // maxTransferBytesOnMessageInMemory
	MaxTransferCountOnMessageInMemory int           // maxTransferCountOnMessageInMemory
	MaxTransferBytesOnMessageInDisk   int           // maxTransferBytesOnMessageInDisk
	MaxTransferCountOnMessageInDisk   int           // maxTransferCountOnMessageInDisk
	AccessMessageInMemoryMaxRatio     int           // accessMessageInMemoryMaxRatio (% of RAM)
	SlaveReadEnable                   bool          // slaveReadEnable
	EnablePropertyFilter              bool          // enablePropertyFilter
	FilterSupportRetry                bool          // filterSupportRetry
	DefaultQueryMaxNum                int           // defaultQueryMaxNum

	// Send replies and tracing.
	TraceOn           bool   // traceOn
	TraceTopicEnable  bool   // traceTopicEnable
	MsgTraceTopicName string // msgTraceTopicName

	// Delay and timer messages.
	MessageDelayLevel []time.Duration // messageDelayLevel; level n is [n-1]
	TimerWheelEnable  bool            // timerWheelEnable
	TimerMaxDelay     time.Duration   // timerMaxDelaySec (s)
	TimerPrecision    time.Duration   // timerPrecisionMs (ms)

	// Transactions.
	TransactionTimeout       time.Duration // transactionTimeOut (ms)
	TransactionCheckMax      int           // transactionCheckMax
	TransactionCheckInterval time.Duration // transactionCheckInterval (ms)
	RejectTransactionMessage bool          // rejectTransactionMessage
}

// DefaultBroker returns RocketMQ's defaults, except storePathRootDir, which
// is "" so the command picks its own (./data for petrel serve). brokerName
// is the host name (DefaultBrokerName if unknown) and namesrvAddr comes from
// the NAMESRV_ADDR environment variable, as in RocketMQ; an invalid
// NAMESRV_ADDR is kept as it is and refused by Validate.
func DefaultBroker() *Broker {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = DefaultBrokerName
	}
	b := &Broker{
		BrokerClusterName:        "DefaultCluster",
		BrokerName:               name,
		BrokerRole:               AsyncMaster,
		BrokerPermission:         6,
		RegionID:                 "DefaultRegion",
		BindAddress:              "0.0.0.0",
		ListenPort:               10911,
		RegisterNameServerPeriod: 30 * time.Second,
		ServerChannelMaxIdleTime: 120 * time.Second,
		ChannelExpiredTimeout:    120 * time.Second,

		MappedFileSizeCommitLog:     1 << 30,
		MappedFileSizeConsumeQueue:  300000 * 20,
		FlushDiskType:               AsyncFlush,
		FlushIntervalCommitLog:      500 * time.Millisecond,
		SyncFlushTimeout:            5 * time.Second,
		FileReservedTime:            72 * time.Hour,
		DeleteWhen:                  []int{4},
		DiskMaxUsedSpaceRatio:       75,
		DiskSpaceWarningLevelRatio:  90,
		DiskSpaceCleanForciblyRatio: 85,
		MaxMessageSize:              4 << 20,
		MaxHashSlotNum:              5000000,
		MaxIndexNum:                 5000000 * 4,
		FlushConsumerOffsetInterval: 5 * time.Second,

		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		DefaultTopicQueueNums:       8,

		LongPollingEnable:                 true,
		ShortPollingTime:                  time.Second,
		NotifyConsumerIdsChangedEnable:    true,
		MaxTransferBytesOnMessageInMemory: 256 << 10,
		MaxTransferCountOnMessageInMemory: 32,
		MaxTransferBytesOnMessageInDisk:   64 << 10,
		MaxTransferCountOnMessageInDisk:   8,
		AccessMessageInMemoryMaxRatio:     40,
		DefaultQueryMaxNum:                32,

		TraceOn:           true,
		MsgTraceTopicName: "RMQ_SYS_TRACE_TOPIC",

		MessageDelayLevel: DefaultMessageDelayLevel(),
		TimerWheelEnable:  true,
		TimerMaxDelay:     3 * 24 * time.Hour,
		TimerPrecision:    time.Second,

		TransactionTimeout:       6 * time.Second,
		TransactionCheckMax:      15,
		TransactionCheckInterval: 60 * time.Second,
	}
	if env := os.Getenv("NAMESRV_ADDR"); env != "" {
		if addrs, err := ParseNamesrvAddr(env); err == nil {
			b.NamesrvAddr = addrs
		} else {
			b.NamesrvAddr = []string{env}
		}
	}
	return b
}

// DefaultMessageDelayLevel returns RocketMQ's 18 delay levels,
// "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".
func DefaultMessageDelayLevel() []time.Duration {
	s, m, h := time.Second, time.Minute, time.Hour
	return []time.Duration{1 * s, 5 * s, 10 * s, 30 * s, 1 * m, 2 * m, 3 * m, 4 * m, 5 * m,
		6 * m, 7 * m, 8 * m, 9 * m, 10 * m, 20 * m, 30 * m, 1 * h, 2 * h}
}

// LoadBroker reads a broker.conf: defaults, then the file's keys in order.
// Unknown keys, repeated keys and clamped values come back as warnings for
// the caller to log; invalid values fail the load with *ValueError(s)
// joined together, one per bad line. It does not call Validate: apply flag
// overrides with Set first, then Validate.
func LoadBroker(path string) (*Broker, Warnings, error) {
	return brokerKeys.loadFile(path)
}

// ParseBroker is LoadBroker on a reader; name is used in messages.
func ParseBroker(r io.Reader, name string) (*Broker, Warnings, error) {
	return brokerKeys.load(r, name)
}

// Set overrides one key by its RocketMQ name (or alias), as a command-line
// flag does after the file. Unknown keys fail with ErrUnknownKey; invalid
// values with a *ValueError. A value RocketMQ would clamp is clamped
// silently.
func (b *Broker) Set(key, value string) error { return brokerKeys.set(b, key, value) }

// SetListenAddr sets bindAddress and listenPort from "host:port" (an empty
// host means every interface).
func (b *Broker) SetListenAddr(hostport string) error {
	host, port, err := splitListenAddr(hostport)
	if err != nil {
		return err
	}
	b.BindAddress, b.ListenPort = host, port
	return nil
}

// ListenAddr is the address to listen on, bindAddress:listenPort.
func (b *Broker) ListenAddr() string {
	return net.JoinHostPort(b.BindAddress, strconv.Itoa(b.ListenPort))
}

// CommitLogDir is where commit log segments live: storePathCommitLog if set,
// else <storePathRootDir>/commitlog ("" while both are unset). Unlike
// RocketMQ 4.x, moving storePathRootDir moves the commit log with it.
func (b *Broker) CommitLogDir() string {
	if b.StorePathCommitLog != "" {
		return b.StorePathCommitLog
	}
	if b.StorePathRootDir == "" {
		return ""
	}
	return filepath.Join(b.StorePathRootDir, "commitlog")
}

// Validate checks every field against its key's rules (so fields set by
// code are held to the file's rules) and the rules between keys: brokerId
// above 0 only with brokerRole SLAVE and the reverse; a commit log file must
// hold a message of maxMessageSize with its headers. Errors are joined.
func (b *Broker) Validate() error { return brokerKeys.validate(b) }

// Properties renders the effective configuration, one property per honoured
// key in a stable order (the table's), for GET_BROKER_CONFIG and logs.
func (b *Broker) Properties() []Property { return brokerKeys.properties(b) }

// String renders Properties in properties-file syntax.
func (b *Broker) String() string { return FormatProperties(b.Properties()) }

// Keys documents every broker key, ignored ones included, in table order.
func Keys() []KeyDoc { return brokerKeys.docs() }

// commitLogHeadroom is the room a commit log file needs beyond
// maxMessageSize (which bounds the body): topic, properties (up to 32 KiB)
// and the fixed record fields.
const commitLogHeadroom = 64 << 10

func checkBroker(b *Broker) []error {
	var errs []error
	if b.BrokerID > 0 && b.BrokerRole != Slave {
		errs = append(errs, fmt.Errorf("%w: brokerId %d needs brokerRole SLAVE, not %s (brokerId 0 is the master)",
			ErrInvalidConfig, b.BrokerID, b.BrokerRole))
	}
	if b.BrokerRole == Slave && b.BrokerID == 0 {
		errs = append(errs, fmt.Errorf("%w: brokerRole SLAVE needs a brokerId above 0 (0 is the master)", ErrInvalidConfig))
	}
	if b.MappedFileSizeCommitLog < int64(b.MaxMessageSize)+commitLogHeadroom {
		errs = append(errs, fmt.Errorf("%w: mappedFileSizeCommitLog %d must be at least maxMessageSize %d + %d so a message fits in one commit log file",
			ErrInvalidConfig, b.MappedFileSizeCommitLog, b.MaxMessageSize, commitLogHeadroom))
	}
	return errs
}

// splitListenAddr parses "host:port" for a listener: host empty or valid,
// port 1..65535.
func splitListenAddr(hostport string) (string, int, error) {
	bad := &ValueError{Key: "listen address", Value: hostport, Want: "host:port with a port from 1 to 65535"}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || (host != "" && !validHost(host)) {
		return "", 0, bad
	}
	p, err := strconv.ParseInt(port, 10, 64)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, bad
	}
	return host, int(p), nil
}
