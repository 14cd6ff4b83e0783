package broker

import (
	"fmt"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
)

// handleEndTransaction is END_TRANSACTION: a producer commits or rolls back
// a half message, after its local transaction or answering a check-back.
//
// Every answer is clean and changes nothing unless it settles an unsettled
// half: an unknown offset or a mismatched group gets SYSTEM_ERROR with the
// reason; a second or late end gets SUCCESS with a remark saying nothing
// changed. State "unknown" (0) is answered too (RocketMQ stays silent,
// which leaves a client that waits for a reply hanging until its timeout);
// the half stays for check-back.
func (b *Broker) handleEndTransaction(req *remoting.Request) *protocol.Command {
	cmd := req.Cmd
	r := protocol.ReadHeader(cmd)
	group := r.String("producerGroup")
	tso := r.Int64("tranStateTableOffset")
	clo := r.Int64("commitLogOffset")
	decision := r.Int32("commitOrRollback")
	fromCheck := r.OptBool("fromTransactionCheck", false)
	if err := r.Err(); err != nil {
		return cmd.NewResponse(protocol.SystemError, err.Error())
	}
	switch decision {
	case message.TransactionCommitType, message.TransactionRollbackType:
	case message.TransactionNotType:
		b.log.Debug("transaction: producer does not know the state yet", "producerGroup", group, "halfOffset", tso, "fromCheck", fromCheck)
		return cmd.NewResponse(protocol.Success, "transaction state unknown: the broker will check back")
	default:
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("commitOrRollback %d is not 8 (commit), 12 (rollback) or 0 (unknown)", decision))
	}
	rec, err := b.store.ReadMessage(clo, nil)
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("find prepared transaction message failed: nothing readable at commit log offset %d: %v", clo, err))
	}
	half := message.Record(rec)
	if string(half.Topic()) != TopicTransHalf || half.PhysicalOffset() != clo {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("find prepared transaction message failed: the message at commit log offset %d is not a half message", clo))
	}
	if g, _ := message.LookupProperty(half.Properties(), message.PropertyProducerGroup); string(g) != group {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("the producer group wrong: the half message belongs to %q, not %q", g, group))
	}
	if half.QueueOffset() != tso {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("the transaction state table offset wrong: the half message is at %d, not %d", half.QueueOffset(), tso))
	}
	x := b.tx
	if !x.claim(tso) {
		return cmd.NewResponse(protocol.Success, "the transaction was already ended; nothing changed")
	}
	var res store.PutResult
	if decision == message.TransactionCommitType {
		m, err := realMessage(half, b.storeHost)
		if err != nil {
			x.unclaim(tso)
			return cmd.NewResponse(protocol.SystemError, err.Error())
		}
		// TRAN_MSG and PGROUP stay, as in RocketMQ: clients set the
		// transaction id of a consumed message from TRAN_MSG=true.
		m.Properties = message.AppendPropertiesWithout(nil, m.Properties, message.PropertyTransactionCheckTimes)
		m.SysFlag = message.ResetTransactionType(m.SysFlag, message.TransactionCommitType)
		m.PreparedTransactionOffset = clo
		if res, err = b.storeMessage(&m); err != nil {
			x.unclaim(tso)
			return storeErrorResponse(cmd, err)
		}
	}
	x.settle(tso)
	b.log.Debug("transaction ended", "commit", decision == message.TransactionCommitType, "producerGroup", group,
		"halfOffset", tso, "fromCheck", fromCheck)
	if res.Status == store.FlushDiskTimeout {
		return cmd.NewResponse(protocol.FlushDiskTimeout, "committed; the sync did not complete within syncFlushTimeout")
	}
	return cmd.NewResponse(protocol.Success, "")
}

// sendHalf stores a transactional send as a half message. The reply names
// the requested queue and the half queue's offset, as RocketMQ's does; the
// producer echoes both in END_TRANSACTION.
func (b *Broker) sendHalf(req *remoting.Request, h *sendHeader, m *message.Message) *protocol.Command {
	cmd := req.Cmd
	if b.cfg.RejectTransactionMessage {
		return cmd.NewResponse(protocol.NoPermission, "the broker["+b.storeHost.String()+"] rejects transactional messages (rejectTransactionMessage=true)")
	}
	queueID := m.QueueID
	res, err := b.tx.storeHalf(m, h.producerGroup, req.Conn)
	if err != nil {
		return storeErrorResponse(cmd, err)
	}
	return b.sendResponse(cmd, res, queueID, message.OffsetMsgID(b.storeHost, res.PhysOffset))
}
