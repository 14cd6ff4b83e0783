package broker

import (
	"errors"
	"strconv"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
)

// handleQueryMessage is QUERY_MESSAGE: messages of a topic by key (a KEYS
// value or the UNIQ_KEY) in a store-time range.
func (b *Broker) handleQueryMessage(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	topic := r.String("topic")
	key := r.String("key")
	maxNum := r.Int32("maxNum")
	begin := r.Int64("beginTimestamp")
	end := r.Int64("endTimestamp")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	if req.Cmd.Ext.Get("_UNIQUE_KEY_QUERY") == "true" || maxNum <= 0 || int(maxNum) > b.cfg.DefaultQueryMaxNum {
		maxNum = int32(b.cfg.DefaultQueryMaxNum)
	}
	res, err := b.store.QueryMessages(topic, key, int(maxNum), begin, end, nil)
	if err != nil {
		return storeErrorResponse(req.Cmd, err)
	}
	if res.Count == 0 {
		return req.Cmd.NewResponse(protocol.QueryNotFound, "can not find message, maybe time range not correct")
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Ext.Set("indexLastUpdateTimestamp", strconv.FormatInt(res.IndexLastUpdateTimestamp, 10))
	resp.Ext.Set("indexLastUpdatePhyoffset", strconv.FormatInt(res.IndexLastUpdatePhyOffset, 10))
	resp.Body = res.Buffer
	return resp
}

// handleViewMessageByID is VIEW_MESSAGE_BY_ID: the record at a commit-log
// offset (decoded from an offset message id by the client).
func (b *Broker) handleViewMessageByID(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	off := r.Int64("offset")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	rec, err := b.store.ReadMessage(off, nil)
	if err != nil {
		remark := "can not find message by the offset, " + strconv.FormatInt(off, 10) + ": " + err.Error()
		if errors.Is(err, store.ErrMessageRemoved) {
			remark = "the message at offset " + strconv.FormatInt(off, 10) + " was removed by retention"
		}
		return req.Cmd.NewResponse(protocol.SystemError, remark)
	}
	resp := req.Cmd.NewResponse(protocol.Success, "")
	resp.Body = rec
	return resp
}
