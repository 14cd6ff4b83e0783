package broker

import (
	"strconv"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

type queueHeader struct {
	topic   string
	queueID int32
}

func readQueueHeader(r *protocol.HeaderReader) queueHeader {
	return queueHeader{topic: r.String("topic"), queueID: r.Int32("queueId")}
}

func offsetResponse(cmd *protocol.Command, name string, v int64) *protocol.Command {
	resp := cmd.NewResponse(protocol.Success, "")
	resp.Ext.Set(name, strconv.FormatInt(v, 10))
	return resp
}

// handleQueryConsumerOffset is QUERY_CONSUMER_OFFSET. With no committed
// offset it answers QUERY_NOT_FOUND, except that, like RocketMQ 4.9, it
// answers 0 when the queue is empty or still holds its first message in
// the recent part of the commit log (the part RocketMQ would serve from
// memory): a new group on a young topic then starts at its first message
// whatever its consumeFromWhere says, as it does on RocketMQ.
func (b *Broker) handleQueryConsumerOffset(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group := r.String("consumerGroup")
	q := readQueueHeader(r)
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if off := b.offsets.query(q.topic, group, q.queueID); off >= 0 {
		return offsetResponse(req.Cmd, "offset", off)
	}
	if b.store.MinOffset(q.topic, q.queueID) <= 0 && b.firstMessageIsRecent(q) {
		return offsetResponse(req.Cmd, "offset", 0)
	}
	return req.Cmd.NewResponse(protocol.QueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
}

// firstMessageIsRecent reports whether the queue is empty or its first
// message lies within accessMessageInMemoryMaxRatio percent of the
// machine's memory from the commit log's end.
func (b *Broker) firstMessageIsRecent(q queueHeader) bool {
	if b.store.MaxOffset(q.topic, q.queueID) == 0 {
		return true
	}
	phys, err := b.store.PhysOffsetAt(q.topic, q.queueID, 0)
	if err != nil {
		return false
	}
	window := int64(totalMemory()) * int64(b.cfg.AccessMessageInMemoryMaxRatio) / 100
	return b.store.Stats().CommitLogMaxOffset-phys < window
}

// handleUpdateConsumerOffset is UPDATE_CONSUMER_OFFSET.
func (b *Broker) handleUpdateConsumerOffset(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group := r.String("consumerGroup")
	q := readQueueHeader(r)
	off := r.Int64("commitOffset")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	b.offsets.commit(q.topic, group, q.queueID, off, b.store.MaxOffset(q.topic, q.queueID), b.now())
	return req.Cmd.NewResponse(protocol.Success, "")
}

// handleGetMaxOffset is GET_MAX_OFFSET: the next offset to be written.
func (b *Broker) handleGetMaxOffset(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	q := readQueueHeader(r)
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return offsetResponse(req.Cmd, "offset", b.store.MaxOffset(q.topic, q.queueID))
}

// handleGetMinOffset is GET_MIN_OFFSET.
func (b *Broker) handleGetMinOffset(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	q := readQueueHeader(r)
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return offsetResponse(req.Cmd, "offset", b.store.MinOffset(q.topic, q.queueID))
}

// handleSearchOffsetByTimestamp is SEARCH_OFFSET_BY_TIMESTAMP: the first
// message stored at or after the timestamp (see store.OffsetByTime).
func (b *Broker) handleSearchOffsetByTimestamp(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	q := readQueueHeader(r)
	ts := r.Int64("timestamp")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	off, err := b.store.OffsetByTime(q.topic, q.queueID, ts)
	if err != nil {
		resp := req.Cmd.NewResponse(protocol.SystemError, err.Error())
		resp.Ext.Set("offset", "0") // the Go client reads offset whatever the code
		return resp
	}
	return offsetResponse(req.Cmd, "offset", off)
}

// handleGetEarliestMsgStoreTime is GET_EARLIEST_MSG_STORETIME.
func (b *Broker) handleGetEarliestMsgStoreTime(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	q := readQueueHeader(r)
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	ts, err := b.store.EarliestStoreTime(q.topic, q.queueID)
	if err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return offsetResponse(req.Cmd, "timestamp", ts)
}
