package config

import (
	"slices"
	"time"
)

// brokerKeys is the broker.conf table: every key the broker reads, in the
// order Properties and Keys list them.
var brokerKeys = newKeyTable("broker", brokerSpecs(), brokerHints, DefaultBroker, checkBroker)

// brokerHints explain RocketMQ keys petrel knows but does not take.
var brokerHints = map[string]string{
	"storePathConsumeQueue": "petrel keeps consume queues under storePathRootDir",
	"storePathIndex":        "petrel keeps the index under storePathRootDir",
	"storeCheckpoint":       "petrel keeps the checkpoint under storePathRootDir",
	"abortFile":             "petrel keeps the abort marker under storePathRootDir",
}

// Unit helpers for the table, so each row reads as RocketMQ documents it.
func msKey(name string, field func(*Broker) *time.Duration, min, max int64, doc string) keySpec[Broker] {
	return durationKey(name, field, time.Millisecond, "milliseconds", min, max, doc)
}

// maxLongMillis caps the keys RocketMQ holds as long milliseconds: a year
// (366 days) is beyond any sensible timeout or interval.
const maxLongMillis = int64(maxDelay / time.Millisecond)

func percent(lo, hi int64) numberRange { return numberRange{min: 0, max: 100, lo: lo, hi: hi} }

func brokerSpecs() []keySpec[Broker] {
	return slices.Concat(identityAndNetworkKeys(), storeKeys(), consumeKeys(), delayAndTransactionKeys())
}

func identityAndNetworkKeys() []keySpec[Broker] {
	return []keySpec[Broker]{
		stringKey("brokerClusterName", func(b *Broker) *string { return &b.BrokerClusterName }, checkName,
			"Cluster the broker belongs to; shown in routes and the CLUSTER message property."),
		stringKey("brokerName", func(b *Broker) *string { return &b.BrokerName }, checkName,
			"Broker name in routes; a master and its slaves share it.").defaultIs("host name"),
		intKey("brokerId", func(b *Broker) *int64 { return &b.BrokerID }, between(0, 1<<63-1),
			"0 for the master, above 0 for a slave (which needs brokerRole=SLAVE)."),
		{name: "brokerRole", doc: "ASYNC_MASTER, SYNC_MASTER or SLAVE. Checked now; acted on once replication exists.",
			bind: func(b *Broker) value {
				return enumValue[BrokerRole]{p: &b.BrokerRole, allowed: []BrokerRole{AsyncMaster, SyncMaster, Slave}}
			}},
		intKey("brokerPermission", func(b *Broker) *int { return &b.BrokerPermission }, between(0, 7),
			"Broker-wide permission bits: 4 read, 2 write (6 = read and write)."),
		stringKey("regionId", func(b *Broker) *string { return &b.RegionID }, checkText,
			"Region reported in send replies (MSG_REGION)."),
		{name: "namesrvAddr", doc: "Name servers to register with, host:port separated by ';'.",
			defaultDoc: "$NAMESRV_ADDR",
			bind:       func(b *Broker) value { return addrListValue{p: &b.NamesrvAddr} }},
		stringKey("bindAddress", func(b *Broker) *string { return &b.BindAddress }, checkOptionalHost,
			"Local address to listen on; empty or 0.0.0.0 means every interface."),
		intKey("listenPort", func(b *Broker) *int { return &b.ListenPort }, between(1, 65535),
			"TCP port for clients."),
		stringKey("brokerIP1", func(b *Broker) *string { return &b.BrokerIP1 }, checkOptionalHost,
			"Address registered with the name servers and stored as STOREHOST; empty means the listen host if specific, else the first non-loopback address."),
		{name: "registerNameServerPeriod", doc: "Milliseconds between registrations with every name server; kept within 10000..60000 like RocketMQ.",
			bind: func(b *Broker) value {
				return durationValue{p: &b.RegisterNameServerPeriod, unit: time.Millisecond,
					numberRange: numberRange{min: 0, max: maxJavaInt, lo: 10000, hi: 60000, unit: "milliseconds"}}
			}},
		durationKey("serverChannelMaxIdleTimeSeconds", func(b *Broker) *time.Duration { return &b.ServerChannelMaxIdleTime },
			time.Second, "seconds", 0, maxJavaInt, "Seconds after which an idle client connection is closed; 0 never closes."),
		msKey("channelExpiredTimeout", func(b *Broker) *time.Duration { return &b.ChannelExpiredTimeout }, 1, maxLongMillis,
			"Milliseconds without a heartbeat after which a client is dropped from its groups."),
	}
}

func storeKeys() []keySpec[Broker] {
	return []keySpec[Broker]{
		stringKey("storePathRootDir", func(b *Broker) *string { return &b.StorePathRootDir }, checkPath,
			"Root of the data directory. Empty lets the command choose (./data for petrel serve; RocketMQ uses ~/store)."),
		{name: "storePathCommitLog", doc: "Commit log directory; empty means <storePathRootDir>/commitlog.",
			defaultDoc: "<storePathRootDir>/commitlog",
			bind:       func(b *Broker) value { return commitLogPathValue{b: b} }},
		intKey("mappedFileSizeCommitLog", func(b *Broker) *int64 { return &b.MappedFileSizeCommitLog }, between(4096, maxJavaInt),
			"Bytes per commit log file (1 GiB).").alias("mapedFileSizeCommitLog"),
		intKey("mappedFileSizeConsumeQueue", func(b *Broker) *int64 { return &b.MappedFileSizeConsumeQueue },
			numberRange{min: 20, max: maxJavaInt / 20 * 20, step: 20},
			"Bytes per consume queue file (300000 entries of 20 bytes); rounded up to a multiple of 20 like RocketMQ.").alias("mapedFileSizeConsumeQueue"),
		{name: "flushDiskType", doc: "ASYNC_FLUSH acknowledges once written; SYNC_FLUSH acknowledges after fsync.",
			bind: func(b *Broker) value {
				return enumValue[FlushDiskType]{p: &b.FlushDiskType, allowed: []FlushDiskType{AsyncFlush, SyncFlush}}
			}},
		msKey("flushIntervalCommitLog", func(b *Broker) *time.Duration { return &b.FlushIntervalCommitLog }, 1, maxJavaInt,
			"Milliseconds between background flushes (ASYNC_FLUSH)."),
		msKey("syncFlushTimeout", func(b *Broker) *time.Duration { return &b.SyncFlushTimeout }, 1, maxLongMillis,
			"Milliseconds a SYNC_FLUSH send waits for fsync before answering FLUSH_DISK_TIMEOUT."),
		durationKey("fileReservedTime", func(b *Broker) *time.Duration { return &b.FileReservedTime },
			time.Hour, "hours", 1, maxJavaInt, "Hours a commit log file is kept after its last write."),
		{name: "deleteWhen", doc: "Hours of the day (00-23, ';'-separated) at which expired files are deleted.",
			bind: func(b *Broker) value { return hoursValue{p: &b.DeleteWhen} }},
		intKey("diskMaxUsedSpaceRatio", func(b *Broker) *int { return &b.DiskMaxUsedSpaceRatio }, percent(10, 95),
			"Disk use (percent, kept within 10..95) above which expired files are deleted at once."),
		intKey("diskSpaceWarningLevelRatio", func(b *Broker) *int { return &b.DiskSpaceWarningLevelRatio }, percent(35, 90),
			"Disk use (percent, kept within 35..90) above which writes are refused."),
		intKey("diskSpaceCleanForciblyRatio", func(b *Broker) *int { return &b.DiskSpaceCleanForciblyRatio }, percent(30, 85),
			"Disk use (percent, kept within 30..85) above which the oldest files are deleted even if not expired."),
		intKey("maxMessageSize", func(b *Broker) *int { return &b.MaxMessageSize }, between(1, maxJavaInt),
			"Largest message body in bytes; larger sends get MESSAGE_ILLEGAL."),
		intKey("maxHashSlotNum", func(b *Broker) *int { return &b.MaxHashSlotNum }, between(1, maxJavaInt),
			"Hash slots per key-index file."),
		intKey("maxIndexNum", func(b *Broker) *int { return &b.MaxIndexNum }, between(1, maxJavaInt),
			"Entries per key-index file."),
		msKey("flushConsumerOffsetInterval", func(b *Broker) *time.Duration { return &b.FlushConsumerOffsetInterval }, 1, maxJavaInt,
			"Milliseconds between persisting consumer offsets."),
		boolKey("autoCreateTopicEnable", func(b *Broker) *bool { return &b.AutoCreateTopicEnable },
			"Create a topic on its first send (through the TBW102 default route)."),
		boolKey("autoCreateSubscriptionGroup", func(b *Broker) *bool { return &b.AutoCreateSubscriptionGroup },
			"Create a subscription group on its first heartbeat or pull."),
		intKey("defaultTopicQueueNums", func(b *Broker) *int { return &b.DefaultTopicQueueNums }, between(1, 65535),
			"Queues of TBW102, the template of auto-created topics (which get min(this, the client's defaultTopicQueueNums, usually 4))."),
		ignoredKey[Broker]("useReentrantLockWhenPutMessage", "Accepted and ignored: a Java locking choice with no petrel equivalent."),
		ignoredKey[Broker]("sendMessageThreadPoolNums", "Accepted and ignored: petrel has no send thread pool."),
		ignoredKey[Broker]("pullMessageThreadPoolNums", "Accepted and ignored: petrel has no pull thread pool."),
	}
}

func consumeKeys() []keySpec[Broker] {
	return []keySpec[Broker]{
		boolKey("longPollingEnable", func(b *Broker) *bool { return &b.LongPollingEnable },
			"Hold a pull that finds nothing until a message arrives or the client's suspend timeout."),
		msKey("shortPollingTimeMills", func(b *Broker) *time.Duration { return &b.ShortPollingTime }, 0, maxLongMillis,
			"Milliseconds an empty pull is held when long polling is off."),
		boolKey("notifyConsumerIdsChangedEnable", func(b *Broker) *bool { return &b.NotifyConsumerIdsChangedEnable },
			"Tell a group's consumers when its membership changes, so they rebalance at once."),
		intKey("maxTransferBytesOnMessageInMemory", func(b *Broker) *int { return &b.MaxTransferBytesOnMessageInMemory }, between(1, maxJavaInt),
			"Byte limit of one pull reply served from memory."),
		intKey("maxTransferCountOnMessageInMemory", func(b *Broker) *int { return &b.MaxTransferCountOnMessageInMemory }, between(1, maxJavaInt),
			"Message limit of one pull reply served from memory."),
		intKey("maxTransferBytesOnMessageInDisk", func(b *Broker) *int { return &b.MaxTransferBytesOnMessageInDisk }, between(1, maxJavaInt),
			"Byte limit of one pull reply that reads from disk. Not used yet: every pull uses the in-memory limits."),
		intKey("maxTransferCountOnMessageInDisk", func(b *Broker) *int { return &b.MaxTransferCountOnMessageInDisk }, between(1, maxJavaInt),
			"Message limit of one pull reply that reads from disk. Not used yet: every pull uses the in-memory limits."),
		intKey("accessMessageInMemoryMaxRatio", func(b *Broker) *int { return &b.AccessMessageInMemoryMaxRatio }, between(0, 100),
			"Percent of RAM: how recent a queue's first message must be for a new group to start at offset 0 (RocketMQ 4.9's rule)."),
		boolKey("slaveReadEnable", func(b *Broker) *bool { return &b.SlaveReadEnable },
			"Suggest that lagging consumers read from a slave. Not used yet: there is no replication."),
		boolKey("enablePropertyFilter", func(b *Broker) *bool { return &b.EnablePropertyFilter },
			"Accept SQL92 property filters in subscriptions. Not supported yet: SQL92 subscriptions are refused either way."),
		boolKey("filterSupportRetry", func(b *Broker) *bool { return &b.FilterSupportRetry },
			"Apply property filters to the retry topic too. Not used yet (no SQL92)."),
		intKey("defaultQueryMaxNum", func(b *Broker) *int { return &b.DefaultQueryMaxNum }, between(1, maxJavaInt),
			"Most messages one key query returns."),
		boolKey("traceOn", func(b *Broker) *bool { return &b.TraceOn },
			"Report TRACE_ON=true in send replies."),
		boolKey("traceTopicEnable", func(b *Broker) *bool { return &b.TraceTopicEnable },
			"Create the message trace topic msgTraceTopicName. Not used yet."),
		stringKey("msgTraceTopicName", func(b *Broker) *string { return &b.MsgTraceTopicName }, checkTopic,
			"Topic that receives message traces. Not used yet."),
	}
}

func delayAndTransactionKeys() []keySpec[Broker] {
	return []keySpec[Broker]{
		{name: "messageDelayLevel", doc: "Delay of each level, blank-separated, units s, m, h, d; level 1 is the first.",
			bind: func(b *Broker) value { return delayLevelsValue{p: &b.MessageDelayLevel} }},
		boolKey("timerWheelEnable", func(b *Broker) *bool { return &b.TimerWheelEnable },
			"Accept messages with an exact delivery time (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS). When false such messages are refused with SYSTEM_ERROR."),
		durationKey("timerMaxDelaySec", func(b *Broker) *time.Duration { return &b.TimerMaxDelay },
			time.Second, "seconds", 1, int64(maxDelay/time.Second), "Longest accepted timer delay in seconds (3 days; at most 366 days). A longer one is refused with MESSAGE_ILLEGAL."),
		msKey("timerPrecisionMs", func(b *Broker) *time.Duration { return &b.TimerPrecision }, 1, 60000,
			"Accepted for compatibility and unused: petrel delivers a timer message at its exact due time, never rounded down (RocketMQ may deliver up to this much early)."),
		msKey("transactionTimeOut", func(b *Broker) *time.Duration { return &b.TransactionTimeout }, 0, maxLongMillis,
			"Milliseconds after it is stored that an unresolved half message gets its first check-back (CHECK_IMMUNITY_TIME_IN_SECONDS on the message overrides it)."),
		intKey("transactionCheckMax", func(b *Broker) *int { return &b.TransactionCheckMax }, between(1, maxJavaInt),
			"Check-backs sent to a live producer before an unresolved half message is discarded to TRANS_CHECK_MAX_TIME_TOPIC."),
		msKey("transactionCheckInterval", func(b *Broker) *time.Duration { return &b.TransactionCheckInterval }, 1, maxLongMillis,
			"Milliseconds between check-backs of one unresolved half message."),
		boolKey("rejectTransactionMessage", func(b *Broker) *bool { return &b.RejectTransactionMessage },
			"Refuse transactional (half) messages with NO_PERMISSION."),
	}
}

// commitLogPathValue renders the effective commit log directory, so logs
// and GET_BROKER_CONFIG show where the data is.
type commitLogPathValue struct{ b *Broker }

func (v commitLogPathValue) set(s string) (string, error) {
	return stringValue{p: &v.b.StorePathCommitLog, check: checkPath}.set(s)
}

func (v commitLogPathValue) String() string { return v.b.CommitLogDir() }

// checkName accepts broker and cluster names: 1 to 127 letters, digits,
// '.', '_' or '-', and not "." or ".." (names may become directory names).
func checkName(s string) string {
	const want = "a name of 1 to 127 letters, digits, '.', '_' or '-'"
	if s == "" || len(s) > 127 || s == "." || s == ".." {
		return want
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return want
		}
	}
	return ""
}

// checkTopic applies RocketMQ's topic rule: ^[%|a-zA-Z0-9_-]+$, at most 127.
func checkTopic(s string) string {
	const want = "a topic name of 1 to 127 letters, digits, '%', '|', '_' or '-'"
	if s == "" || len(s) > 127 {
		return want
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return want
		}
	}
	return ""
}

// checkText accepts non-empty text without control characters, which would
// break the message property encoding (0x01 and 0x02 are its separators).
func checkText(s string) string {
	if s == "" || hasControl(s) {
		return "a non-empty text without control characters"
	}
	return ""
}

// checkPath accepts a path (or "") without control characters.
func checkPath(s string) string {
	if hasControl(s) {
		return "a path without control characters"
	}
	return ""
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
