package message

// Magic codes of commit-log records.
const (
	// MagicCode marks a message record (v1: one-byte topic length).
	MagicCode int32 = -626843481 // 0xDAA320A7
	// BlankMagicCode marks the filler that pads a commit-log segment's end.
	BlankMagicCode int32 = -875286124 // 0xCBD43194
)

// Message sysFlag bits.
const (
	FlagCompressed = 0x1
	FlagMultiTags  = 0x2
	// Transaction type, two bits; see TransactionType.
	TransactionNotType      = 0x0
	TransactionPreparedType = 0x4
	TransactionCommitType   = 0x8
	TransactionRollbackType = 0xC
	FlagBornHostV6          = 0x10
	FlagStoreHostV6         = 0x20
)

// TransactionType extracts the transaction type bits of a sysFlag.
func TransactionType(sysFlag int32) int32 { return sysFlag & 0xC }

// ResetTransactionType returns sysFlag with its transaction type set to typ.
func ResetTransactionType(sysFlag, typ int32) int32 { return sysFlag&^0xC | typ }

// Property keys used by brokers and clients.
const (
	PropertyKeys                       = "KEYS"
	PropertyTags                       = "TAGS"
	PropertyWaitStoreMsgOK             = "WAIT"
	PropertyDelayTimeLevel             = "DELAY"
	PropertyRetryTopic                 = "RETRY_TOPIC"
	PropertyRealTopic                  = "REAL_TOPIC"
	PropertyRealQueueID                = "REAL_QID"
	PropertyTransactionPrepared        = "TRAN_MSG"
	PropertyProducerGroup              = "PGROUP"
	PropertyMinOffset                  = "MIN_OFFSET"
	PropertyMaxOffset                  = "MAX_OFFSET"
	PropertyOriginMessageID            = "ORIGIN_MESSAGE_ID"
	PropertyReconsumeTime              = "RECONSUME_TIME"
	PropertyMaxReconsumeTimes          = "MAX_RECONSUME_TIMES"
	PropertyMsgRegion                  = "MSG_REGION"
	PropertyTraceSwitch                = "TRACE_ON"
	PropertyUniqClientMessageID        = "UNIQ_KEY"
	PropertyCluster                    = "CLUSTER"
	PropertyTransactionCheckTimes      = "TRANSACTION_CHECK_TIMES"
	PropertyCheckImmunityTimeInSeconds = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropertyTransactionPreparedOffset  = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyShardingKey                = "SHARDING_KEY"
	PropertyTimerDeliverMS             = "TIMER_DELIVER_MS"
	PropertyTimerDelaySec              = "TIMER_DELAY_SEC"
	PropertyTimerDelayMS               = "TIMER_DELAY_MS"
	PropertyTimerOutMS                 = "TIMER_OUT_MS"
	PropertyMsgType                    = "MSG_TYPE"
)

// KeySeparator separates the keys in the KEYS property.
const KeySeparator = " "
