// Package protocol owns RocketMQ's remoting wire format: the command model
// (RemotingCommand), the request and response codes, the two header
// serializations (JSON and ROCKETMQ binary) and the framing. It does no
// network IO: ReadFrame reads from a bufio.Reader and AppendFrame writes into
// a byte slice.
//
// # Frame
//
// Every command travels as one frame; integers are big-endian.
//
//	+--------------+----------------------------------+-------------+-----------+
//	| frameLength  | headerInfo                       | header      | body      |
//	| int32        | serializeType<<24 | headerLength | headerLength| the rest  |
//	| 4 bytes      | 4 bytes                          | bytes       | bytes     |
//	+--------------+----------------------------------+-------------+-----------+
//
// frameLength = 4 + headerLength + bodyLength; it does not count itself.
// serializeType is 0 (JSON) or 1 (ROCKETMQ). The frame limit (16 MiB by
// default, as in Java's NettyDecoder) counts the length prefix too.
//
// # JSON header (serializeType 0)
//
// A UTF-8 JSON object; extFields values are always strings:
//
//	{"code":11,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"",
//	 "extFields":{"topic":"T","queueId":"1",...}}
//
// Members may come in any order; absent, null and empty extFields and remark
// are accepted, unknown members are skipped, member names match
// case-insensitively (as fastjson and encoding/json do).
//
// # ROCKETMQ header (serializeType 1)
//
//	+------+----------+---------+--------+------+-----------+--------+--------+---------+
//	| code | language | version | opaque | flag | remarkLen | remark | extLen | extMap  |
//	| int16| byte     | int16   | int32  | int32| int32     | R bytes| int32  | E bytes |
//	+------+----------+---------+--------+------+-----------+--------+--------+---------+
//	 fixed part = 21 bytes
//
//	extMap = repeated { keyLen int16 | key | valueLen int32 | value }
//
// A zero-length key or value stands for Java's null: an entry with an empty
// key is dropped, one with an empty value removes its key. Codes and versions outside int16 cannot be written
// in this form; AppendFrame writes such commands in JSON instead.
package protocol
