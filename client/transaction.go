package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// TransactionState is the outcome of a local transaction.
type TransactionState int

// Local transaction outcomes. Unknown leaves the decision to a later check
// by the broker (CheckLocal).
const (
	TransactionUnknown TransactionState = iota
	TransactionCommit
	TransactionRollback
)

// String names the state.
func (s TransactionState) String() string {
	switch s {
	case TransactionCommit:
		return "COMMIT"
	case TransactionRollback:
		return "ROLLBACK"
	}
	return "UNKNOWN"
}

// commitOrRollback is the END_TRANSACTION value of a state (the sysFlag
// transaction types).
func (s TransactionState) commitOrRollback() int {
	switch s {
	case TransactionCommit:
		return message.TransactionCommitType
	case TransactionRollback:
		return message.TransactionRollbackType
	}
	return message.TransactionNotType
}

// TransactionListener is the application side of transactional messages.
type TransactionListener interface {
	// ExecuteLocal runs the local transaction after the broker stored the
	// half message (invisible to consumers) and says whether to commit it.
	ExecuteLocal(ctx context.Context, msg *Message, res *SendResult) TransactionState
	// CheckLocal answers a broker asking about a half message still
	// undecided (ExecuteLocal said Unknown, or its answer was lost). It
	// may run on any producer of the group, concurrently with other calls;
	// ctx ends when the producer closes or the broker's connection drops.
	CheckLocal(ctx context.Context, msg *MessageExt) TransactionState
}

// TransactionResult is the outcome of SendInTransaction.
type TransactionResult struct {
	*SendResult
	// State is what the local transaction decided (Rollback without
	// running it if the half message was not stored with SEND_OK).
	State TransactionState
}

// SendInTransaction sends msg as a half message, runs the listener's
// ExecuteLocal and tells the broker to commit or roll back. A commit or
// rollback is acknowledged by the broker before SendInTransaction
// returns; if that fails, the result comes with an error and the broker
// decides later by asking CheckLocal.
func (p *Producer) SendInTransaction(ctx context.Context, msg *Message) (*TransactionResult, error) {
	if p.cfg.TransactionListener == nil {
		return nil, errors.New("petrel client: SendInTransaction needs ProducerConfig.TransactionListener")
	}
	if msg != nil && (msg.DelayLevel > 0 || !msg.DeliverAt.IsZero()) {
		return nil, fmt.Errorf("%w: a transactional message cannot be delayed", ErrInvalidMessage)
	}
	if !p.begin() {
		return nil, ErrClosed
	}
	defer p.end()
	out, err := p.prepare([]*Message{msg}, "", message.PropertyTransactionPrepared, "true", message.PropertyProducerGroup, p.cfg.Group)
	if err != nil {
		return nil, err
	}
	flag, _ := strconv.Atoi(out.req.Ext[5].Value)
	out.req.Ext[5].Value = strconv.Itoa(flag | message.TransactionPreparedType)
	sendCtx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	res, err := p.sendSync(sendCtx, out)
	cancel()
	if err != nil {
		return nil, err
	}
	tr := &TransactionResult{SendResult: res, State: TransactionRollback}
	if res.Status == SendOK {
		tr.State = p.cfg.TransactionListener.ExecuteLocal(ctx, msg, res)
	}
	endCtx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	defer cancel()
	return tr, p.endTransaction(endCtx, res, tr.State)
}

// endTransaction sends END_TRANSACTION for a half message just sent.
// Unknown goes oneway: Java brokers never answer it.
func (p *Producer) endTransaction(ctx context.Context, res *SendResult, state TransactionState) error {
	_, clo, err := message.ParseOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		return fmt.Errorf("petrel client: end transaction of %s: the broker's message id: %w", res.MsgID, err)
	}
	txID := res.TransactionID
	if txID == "" {
		txID = res.MsgID
	}
	req := protocol.NewRequest(protocol.EndTransaction, protocol.FieldsOf(
		"producerGroup", p.cfg.Group,
		"tranStateTableOffset", strconv.FormatInt(res.QueueOffset, 10),
		"commitLogOffset", strconv.FormatInt(clo, 10),
		"commitOrRollback", strconv.Itoa(state.commitOrRollback()),
		"fromTransactionCheck", "false",
		"msgId", res.MsgID,
		"transactionId", txID,
	), nil)
	broker := res.Queue.BrokerName
	if state == TransactionUnknown {
		if err := p.inst.rc.InvokeOneway(ctx, res.BrokerAddr, req); err != nil {
			return &BrokerError{Op: "END_TRANSACTION", Broker: broker, Addr: res.BrokerAddr, Err: err}
		}
		return nil
	}
	resp, err := p.inst.invoke(ctx, broker, res.BrokerAddr, req)
	if err != nil {
		return err
	}
	if resp.Code != protocol.Success {
		return &BrokerError{Op: "END_TRANSACTION", Broker: broker, Addr: res.BrokerAddr, Code: resp.Code, Remark: resp.Remark}
	}
	return nil
}

// handleCheckTransaction answers CHECK_TRANSACTION_STATE: the body is the
// half message, whose PGROUP names the producer to ask. The answer goes
// back as END_TRANSACTION on the connection the check came on, oneway, as
// the Java client sends it.
func (in *instance) handleCheckTransaction(req *remoting.Request) *protocol.Command {
	req.Reply(nil) // the check itself is never answered
	msgs, err := decodeMessages(req.Cmd.Body, in.brokerNameOf(req.Conn.RemoteAddr()))
	if err != nil || len(msgs) != 1 {
		in.log.Warn("petrel client: undecodable transaction check", "broker", req.Conn.RemoteAddr().String(), "err", err)
		return nil
	}
	msg := msgs[0]
	group := msg.Properties[message.PropertyProducerGroup]
	p := in.producer(group)
	if p == nil || p.cfg.TransactionListener == nil {
		in.log.Warn("petrel client: transaction check for a group without a transactional producer here", "producerGroup", group, "msgId", msg.MsgID)
		return nil
	}
	p.checkTransaction(req, msg)
	return nil
}

func (p *Producer) checkTransaction(req *remoting.Request, msg *MessageExt) {
	if !p.begin() {
		return
	}
	defer p.end()
	ctx, cancel := context.WithCancel(p.closing)
	defer cancel()
	stop := context.AfterFunc(req.Context(), cancel)
	defer stop()
	state := p.cfg.TransactionListener.CheckLocal(ctx, msg)
	h := req.Cmd.Ext
	msgID := h.Get("msgId")
	if msgID == "" {
		msgID = msg.MsgID
	}
	txID := h.Get("transactionId")
	if txID == "" {
		txID = msgID
	}
	end := protocol.NewRequest(protocol.EndTransaction, protocol.FieldsOf(
		"producerGroup", p.cfg.Group,
		"tranStateTableOffset", h.Get("tranStateTableOffset"),
		"commitLogOffset", h.Get("commitLogOffset"),
		"commitOrRollback", strconv.Itoa(state.commitOrRollback()),
		"fromTransactionCheck", "true",
		"msgId", msgID,
		"transactionId", txID,
	), nil)
	if err := req.Conn.InvokeOneway(end); err != nil {
		p.log.Warn("petrel client: answer to a transaction check not sent", "msgId", msgID, "err", err)
	}
}

// brokerNameOf finds the broker name of an address in the cached routes.
func (in *instance) brokerNameOf(addr net.Addr) string {
	a := addr.String()
	in.routes.RLock()
	defer in.routes.RUnlock()
	for name, addrs := range in.routes.brokers {
		for _, x := range addrs {
			if x == a {
				return name
			}
		}
	}
	return ""
}
