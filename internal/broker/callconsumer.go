package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// An administrator asks the broker about one consumer, and the broker asks
// that consumer over its own connection (RocketMQ's callConsumer):
// GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY. The consumer's
// answer is returned as it is.

// callConsumerTimeout bounds the consumer's answer (RocketMQ's callClient).
const callConsumerTimeout = 10 * time.Second

// consumerConn returns the connection of clientID in group, if online.
func (r *clientRegistry) consumerConn(group, clientID string) *remoting.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.consumers[group]; g != nil {
		for _, c := range g.channels {
			if c.clientID == clientID {
				return c.conn
			}
		}
	}
	return nil
}

// handleGetConsumerRunningInfo forwards GET_CONSUMER_RUNNING_INFO.
func (b *Broker) handleGetConsumerRunningInfo(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group, clientID := r.String("consumerGroup"), r.String("clientId")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	return b.callConsumer(req.Cmd, group, clientID, req.Cmd.Ext, nil)
}

// handleConsumeMessageDirectly forwards CONSUME_MESSAGE_DIRECTLY with the
// stored message named by msgId (an offset message id of this broker) as
// the body and this broker's name added.
func (b *Broker) handleConsumeMessageDirectly(req *remoting.Request) *protocol.Command {
	r := protocol.ReadHeader(req.Cmd)
	group, clientID, msgID := r.String("consumerGroup"), r.String("clientId"), r.String("msgId")
	if err := r.Err(); err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, err.Error())
	}
	_, phys, err := message.ParseOffsetMsgID(msgID)
	if err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("msgId %q is not an offset message id: %v", msgID, err))
	}
	rec, err := b.store.ReadMessage(phys, nil)
	if err != nil {
		return req.Cmd.NewResponse(protocol.SystemError, fmt.Sprintf("can not find message %s: %v", msgID, err))
	}
	ext := append(protocol.Fields(nil), req.Cmd.Ext...)
	ext.Set("brokerName", b.cfg.BrokerName)
	return b.callConsumer(req.Cmd, group, clientID, ext, rec)
}

// callConsumer sends the request to the consumer and relays its answer.
func (b *Broker) callConsumer(cmd *protocol.Command, group, clientID string, ext protocol.Fields, body []byte) *protocol.Command {
	conn := b.clients.consumerConn(group, clientID)
	if conn == nil {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("the consumer <%s> <%s> is not online", group, clientID))
	}
	ctx, cancel := context.WithTimeout(context.Background(), callConsumerTimeout)
	defer cancel()
	resp, err := conn.Invoke(ctx, protocol.NewRequest(cmd.Code, ext, body))
	if err != nil {
		return cmd.NewResponse(protocol.SystemError, fmt.Sprintf("invoke consumer <%s> <%s>: %v", group, clientID, err))
	}
	out := cmd.NewResponse(resp.Code, resp.Remark)
	out.Body = resp.Body
	return out
}
