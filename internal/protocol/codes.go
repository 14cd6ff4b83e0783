// The tables below follow sections 2.1 and 3 of the remoting protocol spec.

package protocol

import "strconv"

// Request codes (Java's RequestCode), named after RocketMQ's constants.
// Codes above 32767 are RocketMQ 5 codes and only travel in JSON headers.
const (
	SendMessage                      int32 = 10     // SEND_MESSAGE
	PullMessage                      int32 = 11     // PULL_MESSAGE
	QueryMessage                     int32 = 12     // QUERY_MESSAGE
	QueryBrokerOffset                int32 = 13     // QUERY_BROKER_OFFSET
	QueryConsumerOffset              int32 = 14     // QUERY_CONSUMER_OFFSET
	UpdateConsumerOffset             int32 = 15     // UPDATE_CONSUMER_OFFSET
	UpdateAndCreateTopic             int32 = 17     // UPDATE_AND_CREATE_TOPIC
	GetAllTopicConfig                int32 = 21     // GET_ALL_TOPIC_CONFIG
	GetTopicConfigList               int32 = 22     // GET_TOPIC_CONFIG_LIST
	GetTopicNameList                 int32 = 23     // GET_TOPIC_NAME_LIST
	UpdateBrokerConfig               int32 = 25     // UPDATE_BROKER_CONFIG
	GetBrokerConfig                  int32 = 26     // GET_BROKER_CONFIG
	TriggerDeleteFiles               int32 = 27     // TRIGGER_DELETE_FILES
	GetBrokerRuntimeInfo             int32 = 28     // GET_BROKER_RUNTIME_INFO
	SearchOffsetByTimestamp          int32 = 29     // SEARCH_OFFSET_BY_TIMESTAMP
	GetMaxOffset                     int32 = 30     // GET_MAX_OFFSET
	GetMinOffset                     int32 = 31     // GET_MIN_OFFSET
	GetEarliestMsgStoreTime          int32 = 32     // GET_EARLIEST_MSG_STORETIME
	ViewMessageByID                  int32 = 33     // VIEW_MESSAGE_BY_ID
	HeartBeat                        int32 = 34     // HEART_BEAT
	UnregisterClient                 int32 = 35     // UNREGISTER_CLIENT
	ConsumerSendMsgBack              int32 = 36     // CONSUMER_SEND_MSG_BACK
	EndTransaction                   int32 = 37     // END_TRANSACTION
	GetConsumerListByGroup           int32 = 38     // GET_CONSUMER_LIST_BY_GROUP
	CheckTransactionState            int32 = 39     // CHECK_TRANSACTION_STATE
	NotifyConsumerIDsChanged         int32 = 40     // NOTIFY_CONSUMER_IDS_CHANGED
	LockBatchMQ                      int32 = 41     // LOCK_BATCH_MQ
	UnlockBatchMQ                    int32 = 42     // UNLOCK_BATCH_MQ
	GetAllConsumerOffset             int32 = 43     // GET_ALL_CONSUMER_OFFSET
	GetAllDelayOffset                int32 = 45     // GET_ALL_DELAY_OFFSET
	CheckClientConfig                int32 = 46     // CHECK_CLIENT_CONFIG
	UpdateAndCreateACLConfig         int32 = 50     // UPDATE_AND_CREATE_ACL_CONFIG
	DeleteACLConfig                  int32 = 51     // DELETE_ACL_CONFIG
	GetBrokerClusterACLInfo          int32 = 52     // GET_BROKER_CLUSTER_ACL_INFO
	UpdateGlobalWhiteAddrsConfig     int32 = 53     // UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
	GetTimerCheckPoint               int32 = 60     // GET_TIMER_CHECK_POINT
	PutKVConfig                      int32 = 100    // PUT_KV_CONFIG
	GetKVConfig                      int32 = 101    // GET_KV_CONFIG
	DeleteKVConfig                   int32 = 102    // DELETE_KV_CONFIG
	RegisterBroker                   int32 = 103    // REGISTER_BROKER
	UnregisterBroker                 int32 = 104    // UNREGISTER_BROKER
	GetRouteInfoByTopic              int32 = 105    // GET_ROUTEINFO_BY_TOPIC
	GetBrokerClusterInfo             int32 = 106    // GET_BROKER_CLUSTER_INFO
	UpdateAndCreateSubscriptionGroup int32 = 200    // UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
	GetAllSubscriptionGroupConfig    int32 = 201    // GET_ALL_SUBSCRIPTIONGROUP_CONFIG
	GetTopicStatsInfo                int32 = 202    // GET_TOPIC_STATS_INFO
	GetConsumerConnectionList        int32 = 203    // GET_CONSUMER_CONNECTION_LIST
	GetProducerConnectionList        int32 = 204    // GET_PRODUCER_CONNECTION_LIST
	WipeWritePermOfBroker            int32 = 205    // WIPE_WRITE_PERM_OF_BROKER
	GetAllTopicListFromNameServer    int32 = 206    // GET_ALL_TOPIC_LIST_FROM_NAMESERVER
	DeleteSubscriptionGroup          int32 = 207    // DELETE_SUBSCRIPTIONGROUP
	GetConsumeStats                  int32 = 208    // GET_CONSUME_STATS
	SuspendConsumer                  int32 = 209    // SUSPEND_CONSUMER
	ResumeConsumer                   int32 = 210    // RESUME_CONSUMER
	ResetConsumerOffsetInConsumer    int32 = 211    // RESET_CONSUMER_OFFSET_IN_CONSUMER
	ResetConsumerOffsetInBroker      int32 = 212    // RESET_CONSUMER_OFFSET_IN_BROKER
	AdjustConsumerThreadPool         int32 = 213    // ADJUST_CONSUMER_THREAD_POOL
	WhoConsumeTheMessage             int32 = 214    // WHO_CONSUME_THE_MESSAGE
	DeleteTopicInBroker              int32 = 215    // DELETE_TOPIC_IN_BROKER
	DeleteTopicInNamesrv             int32 = 216    // DELETE_TOPIC_IN_NAMESRV
	GetKVListByNamespace             int32 = 219    // GET_KVLIST_BY_NAMESPACE
	ResetConsumerClientOffset        int32 = 220    // RESET_CONSUMER_CLIENT_OFFSET
	GetConsumerStatusFromClient      int32 = 221    // GET_CONSUMER_STATUS_FROM_CLIENT
	InvokeBrokerToResetOffset        int32 = 222    // INVOKE_BROKER_TO_RESET_OFFSET
	InvokeBrokerToGetConsumerStatus  int32 = 223    // INVOKE_BROKER_TO_GET_CONSUMER_STATUS
	GetTopicsByCluster               int32 = 224    // GET_TOPICS_BY_CLUSTER
	QueryTopicConsumeByWho           int32 = 300    // QUERY_TOPIC_CONSUME_BY_WHO
	RegisterFilterServer             int32 = 301    // REGISTER_FILTER_SERVER
	RegisterMessageFilterClass       int32 = 302    // REGISTER_MESSAGE_FILTER_CLASS
	QueryConsumeTimeSpan             int32 = 303    // QUERY_CONSUME_TIME_SPAN
	GetSystemTopicListFromNS         int32 = 304    // GET_SYSTEM_TOPIC_LIST_FROM_NS
	GetSystemTopicListFromBroker     int32 = 305    // GET_SYSTEM_TOPIC_LIST_FROM_BROKER
	CleanExpiredConsumeQueue         int32 = 306    // CLEAN_EXPIRED_CONSUMEQUEUE
	GetConsumerRunningInfo           int32 = 307    // GET_CONSUMER_RUNNING_INFO
	QueryCorrectionOffset            int32 = 308    // QUERY_CORRECTION_OFFSET
	ConsumeMessageDirectly           int32 = 309    // CONSUME_MESSAGE_DIRECTLY
	SendMessageV2                    int32 = 310    // SEND_MESSAGE_V2
	GetUnitTopicList                 int32 = 311    // GET_UNIT_TOPIC_LIST
	GetHasUnitSubTopicList           int32 = 312    // GET_HAS_UNIT_SUB_TOPIC_LIST
	GetHasUnitSubUnunitTopicList     int32 = 313    // GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST
	CloneGroupOffset                 int32 = 314    // CLONE_GROUP_OFFSET
	ViewBrokerStatsData              int32 = 315    // VIEW_BROKER_STATS_DATA
	CleanUnusedTopic                 int32 = 316    // CLEAN_UNUSED_TOPIC
	GetBrokerConsumeStats            int32 = 317    // GET_BROKER_CONSUME_STATS
	UpdateNamesrvConfig              int32 = 318    // UPDATE_NAMESRV_CONFIG
	GetNamesrvConfig                 int32 = 319    // GET_NAMESRV_CONFIG
	SendBatchMessage                 int32 = 320    // SEND_BATCH_MESSAGE
	QueryConsumeQueue                int32 = 321    // QUERY_CONSUME_QUEUE
	QueryDataVersion                 int32 = 322    // QUERY_DATA_VERSION
	ResumeCheckHalfMessage           int32 = 323    // RESUME_CHECK_HALF_MESSAGE
	SendReplyMessage                 int32 = 324    // SEND_REPLY_MESSAGE
	SendReplyMessageV2               int32 = 325    // SEND_REPLY_MESSAGE_V2
	PushReplyMessageToClient         int32 = 326    // PUSH_REPLY_MESSAGE_TO_CLIENT
	AddWritePermOfBroker             int32 = 327    // ADD_WRITE_PERM_OF_BROKER
	GetAllProducerInfo               int32 = 328    // GET_ALL_PRODUCER_INFO
	DeleteExpiredCommitLog           int32 = 329    // DELETE_EXPIRED_COMMITLOG
	LitePullMessage                  int32 = 361    // LITE_PULL_MESSAGE
	QueryAssignment                  int32 = 400    // QUERY_ASSIGNMENT
	PopMessage                       int32 = 200050 // POP_MESSAGE
	AckMessage                       int32 = 200051 // ACK_MESSAGE
	ChangeMessageInvisibleTime       int32 = 200053 // CHANGE_MESSAGE_INVISIBLETIME
	Notification                     int32 = 200054 // NOTIFICATION
)

// Response codes (Java's RemotingSysResponseCode and ResponseCode). In
// RocketMQ 5, 209-211 mean POLLING_FULL, POLLING_TIMEOUT and BROKER_NOT_EXIST.
const (
	Success                            int32 = 0   // SUCCESS
	SystemError                        int32 = 1   // SYSTEM_ERROR
	SystemBusy                         int32 = 2   // SYSTEM_BUSY
	RequestCodeNotSupported            int32 = 3   // REQUEST_CODE_NOT_SUPPORTED
	TransactionFailed                  int32 = 4   // TRANSACTION_FAILED
	FlushDiskTimeout                   int32 = 10  // FLUSH_DISK_TIMEOUT
	SlaveNotAvailable                  int32 = 11  // SLAVE_NOT_AVAILABLE
	FlushSlaveTimeout                  int32 = 12  // FLUSH_SLAVE_TIMEOUT
	MessageIllegal                     int32 = 13  // MESSAGE_ILLEGAL
	ServiceNotAvailable                int32 = 14  // SERVICE_NOT_AVAILABLE
	VersionNotSupported                int32 = 15  // VERSION_NOT_SUPPORTED
	NoPermission                       int32 = 16  // NO_PERMISSION
	TopicNotExist                      int32 = 17  // TOPIC_NOT_EXIST
	TopicExistAlready                  int32 = 18  // TOPIC_EXIST_ALREADY
	PullNotFound                       int32 = 19  // PULL_NOT_FOUND
	PullRetryImmediately               int32 = 20  // PULL_RETRY_IMMEDIATELY
	PullOffsetMoved                    int32 = 21  // PULL_OFFSET_MOVED
	QueryNotFound                      int32 = 22  // QUERY_NOT_FOUND
	SubscriptionParseFailed            int32 = 23  // SUBSCRIPTION_PARSE_FAILED
	SubscriptionNotExist               int32 = 24  // SUBSCRIPTION_NOT_EXIST
	SubscriptionNotLatest              int32 = 25  // SUBSCRIPTION_NOT_LATEST
	SubscriptionGroupNotExist          int32 = 26  // SUBSCRIPTION_GROUP_NOT_EXIST
	FilterDataNotExist                 int32 = 27  // FILTER_DATA_NOT_EXIST
	FilterDataNotLatest                int32 = 28  // FILTER_DATA_NOT_LATEST
	InvalidParameter                   int32 = 29  // INVALID_PARAMETER
	TransactionShouldCommit            int32 = 200 // TRANSACTION_SHOULD_COMMIT
	TransactionShouldRollback          int32 = 201 // TRANSACTION_SHOULD_ROLLBACK
	TransactionStateUnknow             int32 = 202 // TRANSACTION_STATE_UNKNOW
	TransactionStateGroupWrong         int32 = 203 // TRANSACTION_STATE_GROUP_WRONG
	NoBuyerID                          int32 = 204 // NO_BUYER_ID
	NotInCurrentUnit                   int32 = 205 // NOT_IN_CURRENT_UNIT
	ConsumerNotOnline                  int32 = 206 // CONSUMER_NOT_ONLINE
	ConsumeMsgTimeout                  int32 = 207 // CONSUME_MSG_TIMEOUT
	NoMessage                          int32 = 208 // NO_MESSAGE
	UpdateAndCreateACLConfigFailed     int32 = 209 // UPDATE_AND_CREATE_ACL_CONFIG_FAILED
	DeleteACLConfigFailed              int32 = 210 // DELETE_ACL_CONFIG_FAILED
	UpdateGlobalWhiteAddrsConfigFailed int32 = 211 // UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED
	FlowControl                        int32 = 215 // FLOW_CONTROL
)

var requestNames = map[int32]string{
	SendMessage:                      "SEND_MESSAGE",
	PullMessage:                      "PULL_MESSAGE",
	QueryMessage:                     "QUERY_MESSAGE",
	QueryBrokerOffset:                "QUERY_BROKER_OFFSET",
	QueryConsumerOffset:              "QUERY_CONSUMER_OFFSET",
	UpdateConsumerOffset:             "UPDATE_CONSUMER_OFFSET",
	UpdateAndCreateTopic:             "UPDATE_AND_CREATE_TOPIC",
	GetAllTopicConfig:                "GET_ALL_TOPIC_CONFIG",
	GetTopicConfigList:               "GET_TOPIC_CONFIG_LIST",
	GetTopicNameList:                 "GET_TOPIC_NAME_LIST",
	UpdateBrokerConfig:               "UPDATE_BROKER_CONFIG",
	GetBrokerConfig:                  "GET_BROKER_CONFIG",
	TriggerDeleteFiles:               "TRIGGER_DELETE_FILES",
	GetBrokerRuntimeInfo:             "GET_BROKER_RUNTIME_INFO",
	SearchOffsetByTimestamp:          "SEARCH_OFFSET_BY_TIMESTAMP",
	GetMaxOffset:                     "GET_MAX_OFFSET",
	GetMinOffset:                     "GET_MIN_OFFSET",
	GetEarliestMsgStoreTime:          "GET_EARLIEST_MSG_STORETIME",
	ViewMessageByID:                  "VIEW_MESSAGE_BY_ID",
	HeartBeat:                        "HEART_BEAT",
	UnregisterClient:                 "UNREGISTER_CLIENT",
	ConsumerSendMsgBack:              "CONSUMER_SEND_MSG_BACK",
	EndTransaction:                   "END_TRANSACTION",
	GetConsumerListByGroup:           "GET_CONSUMER_LIST_BY_GROUP",
	CheckTransactionState:            "CHECK_TRANSACTION_STATE",
	NotifyConsumerIDsChanged:         "NOTIFY_CONSUMER_IDS_CHANGED",
	LockBatchMQ:                      "LOCK_BATCH_MQ",
	UnlockBatchMQ:                    "UNLOCK_BATCH_MQ",
	GetAllConsumerOffset:             "GET_ALL_CONSUMER_OFFSET",
	GetAllDelayOffset:                "GET_ALL_DELAY_OFFSET",
	CheckClientConfig:                "CHECK_CLIENT_CONFIG",
	UpdateAndCreateACLConfig:         "UPDATE_AND_CREATE_ACL_CONFIG",
	DeleteACLConfig:                  "DELETE_ACL_CONFIG",
	GetBrokerClusterACLInfo:          "GET_BROKER_CLUSTER_ACL_INFO",
	UpdateGlobalWhiteAddrsConfig:     "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG",
	GetTimerCheckPoint:               "GET_TIMER_CHECK_POINT",
	PutKVConfig:                      "PUT_KV_CONFIG",
	GetKVConfig:                      "GET_KV_CONFIG",
	DeleteKVConfig:                   "DELETE_KV_CONFIG",
	RegisterBroker:                   "REGISTER_BROKER",
	UnregisterBroker:                 "UNREGISTER_BROKER",
	GetRouteInfoByTopic:              "GET_ROUTEINFO_BY_TOPIC",
	GetBrokerClusterInfo:             "GET_BROKER_CLUSTER_INFO",
	UpdateAndCreateSubscriptionGroup: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	GetAllSubscriptionGroupConfig:    "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
	GetTopicStatsInfo:                "GET_TOPIC_STATS_INFO",
	GetConsumerConnectionList:        "GET_CONSUMER_CONNECTION_LIST",
	GetProducerConnectionList:        "GET_PRODUCER_CONNECTION_LIST",
	WipeWritePermOfBroker:            "WIPE_WRITE_PERM_OF_BROKER",
	GetAllTopicListFromNameServer:    "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	DeleteSubscriptionGroup:          "DELETE_SUBSCRIPTIONGROUP",
	GetConsumeStats:                  "GET_CONSUME_STATS",
	SuspendConsumer:                  "SUSPEND_CONSUMER",
	ResumeConsumer:                   "RESUME_CONSUMER",
	ResetConsumerOffsetInConsumer:    "RESET_CONSUMER_OFFSET_IN_CONSUMER",
	ResetConsumerOffsetInBroker:      "RESET_CONSUMER_OFFSET_IN_BROKER",
	AdjustConsumerThreadPool:         "ADJUST_CONSUMER_THREAD_POOL",
	WhoConsumeTheMessage:             "WHO_CONSUME_THE_MESSAGE",
	DeleteTopicInBroker:              "DELETE_TOPIC_IN_BROKER",
	DeleteTopicInNamesrv:             "DELETE_TOPIC_IN_NAMESRV",
	GetKVListByNamespace:             "GET_KVLIST_BY_NAMESPACE",
	ResetConsumerClientOffset:        "RESET_CONSUMER_CLIENT_OFFSET",
	GetConsumerStatusFromClient:      "GET_CONSUMER_STATUS_FROM_CLIENT",
	InvokeBrokerToResetOffset:        "INVOKE_BROKER_TO_RESET_OFFSET",
	InvokeBrokerToGetConsumerStatus:  "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
	GetTopicsByCluster:               "GET_TOPICS_BY_CLUSTER",
	QueryTopicConsumeByWho:           "QUERY_TOPIC_CONSUME_BY_WHO",
	RegisterFilterServer:             "REGISTER_FILTER_SERVER",
	RegisterMessageFilterClass:       "REGISTER_MESSAGE_FILTER_CLASS",
	QueryConsumeTimeSpan:             "QUERY_CONSUME_TIME_SPAN",
	GetSystemTopicListFromNS:         "GET_SYSTEM_TOPIC_LIST_FROM_NS",
	GetSystemTopicListFromBroker:     "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
	CleanExpiredConsumeQueue:         "CLEAN_EXPIRED_CONSUMEQUEUE",
	GetConsumerRunningInfo:           "GET_CONSUMER_RUNNING_INFO",
	QueryCorrectionOffset:            "QUERY_CORRECTION_OFFSET",
	ConsumeMessageDirectly:           "CONSUME_MESSAGE_DIRECTLY",
	SendMessageV2:                    "SEND_MESSAGE_V2",
	GetUnitTopicList:                 "GET_UNIT_TOPIC_LIST",
	GetHasUnitSubTopicList:           "GET_HAS_UNIT_SUB_TOPIC_LIST",
	GetHasUnitSubUnunitTopicList:     "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST",
	CloneGroupOffset:                 "CLONE_GROUP_OFFSET",
	ViewBrokerStatsData:              "VIEW_BROKER_STATS_DATA",
	CleanUnusedTopic:                 "CLEAN_UNUSED_TOPIC",
	GetBrokerConsumeStats:            "GET_BROKER_CONSUME_STATS",
	UpdateNamesrvConfig:              "UPDATE_NAMESRV_CONFIG",
	GetNamesrvConfig:                 "GET_NAMESRV_CONFIG",
	SendBatchMessage:                 "SEND_BATCH_MESSAGE",
	QueryConsumeQueue:                "QUERY_CONSUME_QUEUE",
	QueryDataVersion:                 "QUERY_DATA_VERSION",
	ResumeCheckHalfMessage:           "RESUME_CHECK_HALF_MESSAGE",
	SendReplyMessage:                 "SEND_REPLY_MESSAGE",
	SendReplyMessageV2:               "SEND_REPLY_MESSAGE_V2",
	PushReplyMessageToClient:         "PUSH_REPLY_MESSAGE_TO_CLIENT",
	AddWritePermOfBroker:             "ADD_WRITE_PERM_OF_BROKER",
	GetAllProducerInfo:               "GET_ALL_PRODUCER_INFO",
	DeleteExpiredCommitLog:           "DELETE_EXPIRED_COMMITLOG",
	LitePullMessage:                  "LITE_PULL_MESSAGE",
	QueryAssignment:                  "QUERY_ASSIGNMENT",
	PopMessage:                       "POP_MESSAGE",
	AckMessage:                       "ACK_MESSAGE",
	ChangeMessageInvisibleTime:       "CHANGE_MESSAGE_INVISIBLETIME",
	Notification:                     "NOTIFICATION",
}

var responseNames = map[int32]string{
	Success:                            "SUCCESS",
	SystemError:                        "SYSTEM_ERROR",
	SystemBusy:                         "SYSTEM_BUSY",
	RequestCodeNotSupported:            "REQUEST_CODE_NOT_SUPPORTED",
	TransactionFailed:                  "TRANSACTION_FAILED",
	FlushDiskTimeout:                   "FLUSH_DISK_TIMEOUT",
	SlaveNotAvailable:                  "SLAVE_NOT_AVAILABLE",
	FlushSlaveTimeout:                  "FLUSH_SLAVE_TIMEOUT",
	MessageIllegal:                     "MESSAGE_ILLEGAL",
	ServiceNotAvailable:                "SERVICE_NOT_AVAILABLE",
	VersionNotSupported:                "VERSION_NOT_SUPPORTED",
	NoPermission:                       "NO_PERMISSION",
	TopicNotExist:                      "TOPIC_NOT_EXIST",
	TopicExistAlready:                  "TOPIC_EXIST_ALREADY",
	PullNotFound:                       "PULL_NOT_FOUND",
	PullRetryImmediately:               "PULL_RETRY_IMMEDIATELY",
	PullOffsetMoved:                    "PULL_OFFSET_MOVED",
	QueryNotFound:                      "QUERY_NOT_FOUND",
	SubscriptionParseFailed:            "SUBSCRIPTION_PARSE_FAILED",
	SubscriptionNotExist:               "SUBSCRIPTION_NOT_EXIST",
	SubscriptionNotLatest:              "SUBSCRIPTION_NOT_LATEST",
	SubscriptionGroupNotExist:          "SUBSCRIPTION_GROUP_NOT_EXIST",
	FilterDataNotExist:                 "FILTER_DATA_NOT_EXIST",
	FilterDataNotLatest:                "FILTER_DATA_NOT_LATEST",
	InvalidParameter:                   "INVALID_PARAMETER",
	TransactionShouldCommit:            "TRANSACTION_SHOULD_COMMIT",
	TransactionShouldRollback:          "TRANSACTION_SHOULD_ROLLBACK",
	TransactionStateUnknow:             "TRANSACTION_STATE_UNKNOW",
	TransactionStateGroupWrong:         "TRANSACTION_STATE_GROUP_WRONG",
	NoBuyerID:                          "NO_BUYER_ID",
	NotInCurrentUnit:                   "NOT_IN_CURRENT_UNIT",
	ConsumerNotOnline:                  "CONSUMER_NOT_ONLINE",
	ConsumeMsgTimeout:                  "CONSUME_MSG_TIMEOUT",
	NoMessage:                          "NO_MESSAGE",
	UpdateAndCreateACLConfigFailed:     "UPDATE_AND_CREATE_ACL_CONFIG_FAILED",
	DeleteACLConfigFailed:              "DELETE_ACL_CONFIG_FAILED",
	UpdateGlobalWhiteAddrsConfigFailed: "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED",
	FlowControl:                        "FLOW_CONTROL",
}

// RequestName returns RocketMQ's name of a request code, e.g. "SEND_MESSAGE",
// or "REQUEST_<code>" for an unknown one.
func RequestName(code int32) string {
	if n, ok := requestNames[code]; ok {
		return n
	}
	return "REQUEST_" + strconv.Itoa(int(code))
}

// ResponseName returns RocketMQ's name of a response code, e.g.
// "PULL_NOT_FOUND", or "RESPONSE_<code>" for an unknown one.
func ResponseName(code int32) string {
	if n, ok := responseNames[code]; ok {
		return n
	}
	return "RESPONSE_" + strconv.Itoa(int(code))
}
