// Package namesrv is petrel's RocketMQ name server: the route table that
// says which brokers host which topic's queues, the remoting handlers that
// serve it to clients and keep it fed by brokers, and the broker's side of
// registration (the REGISTER_BROKER / UNREGISTER_BROKER requests and the
// parsing of their answer), so both ends of the exchange live and are tested
// together.
//
// # Route table
//
// RouteTable is a pure structure: no goroutines, no IO, time passed in.
// Namesrv wraps it with a lock, the request handlers, the liveness scanner
// and the bookkeeping of which connection registered which broker address.
//
//	clusters: clusterName → {brokerName}
//	brokers:  brokerName  → cluster, {brokerId → "ip:port"} (id 0 = master)
//	topics:   topic       → {brokerName → QueueData}
//	live:     brokerAddr  → last registration time, DataVersion, haServerAddr
//
// A broker address leaves the table when its broker unregisters, when its
// registering connection closes, or when it has not registered for
// BrokerExpiry (120 s). When a broker name loses its last address, the name
// leaves its cluster, its queue data leaves every topic, and topics left
// without queue data disappear: their routes then answer TOPIC_NOT_EXIST.
//
// # REGISTER_BROKER body
//
// Uncompressed (header compressed=false) the body is RegisterBrokerBody JSON.
// Compressed (compressed=true, RocketMQ's compressedRegister) it is one zlib
// stream (RFC 1950, as Java's DeflaterOutputStream writes) holding:
//
//	+-------+------------------+-------+---------------------------------+-------+------------------+
//	| len   | DataVersion JSON | count | count × { len | TopicConfig }   | len   | filterServerList |
//	| int32 | len bytes        | int32 |   int32 | len bytes (text)    | int32 | JSON, len bytes  |
//	+-------+------------------+-------+---------------------------------+-------+------------------+
//
//	TopicConfig text: "<topicName> <readQueueNums> <writeQueueNums> <perm> <topicFilterType>"
//	                  separated by single spaces; RocketMQ 5 appends " <attributes JSON>".
//
// Integers are big-endian. The compressed form carries neither topicSysFlag
// nor order; they decode as 0 and false, as in Java. Bytes after the filter
// server list (RocketMQ 5 appends queue mapping data) are ignored.
//
// The bodyCrc32 header, when not 0, is CRC-32 (IEEE) & 0x7FFFFFFF of the body
// bytes as sent (compressed or not).
//
// # Route JSON
//
// Routes are written compactly with quoted brokerAddrs keys
// ({"brokerAddrs":{"0":"10.0.0.1:10911"}}): the Go client takes the text
// between the braces, splits it on ',' and at the first ':' and deletes every
// '"', so a space or a comma would end up in the address. Registration
// therefore refuses broker addresses containing whitespace, ',', '"', '{' or
// '}'.
package namesrv
