package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// ConsumerRunningInfo asks one member of a consumer group (clientID, as
// the group's connection list names it) for its state, through a broker
// the member is registered with: a master of the group's retry topic, as
// RocketMQ's admin does. withStack adds the member's goroutine dump.
func (a *Admin) ConsumerRunningInfo(ctx context.Context, group, clientID string, withStack bool) (*ConsumerRunningInfo, error) {
	data, err := a.inst.fetchRoute(ctx, RetryTopicPrefix+group)
	if err != nil {
		return nil, fmt.Errorf("petrel client: running info of %s: %w", group, err)
	}
	var errs []error
	for _, bd := range data.BrokerDatas {
		addr := bd.BrokerAddrs[0]
		if addr == "" {
			continue
		}
		req := protocol.NewRequest(protocol.GetConsumerRunningInfo, protocol.FieldsOf(
			"consumerGroup", group, "clientId", clientID, "jstackEnable", fmt.Sprint(withStack)), nil)
		resp, err := a.invoke(ctx, bd.BrokerName, addr, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return decodeRunningInfo(resp.Body)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("petrel client: running info of %s: %w %s", group, ErrNoRoute, RetryTopicPrefix+group)
	}
	return nil, fmt.Errorf("petrel client: running info of %s %s: %w", group, clientID, errors.Join(errs...))
}

// ConsumeMessageDirectly has one member of a consumer group run a stored
// message (by its offset message id) through its listener once, as
// `mqadmin consumeMessage` does to test a consumer. Nothing is committed
// or retried whatever the listener answers.
func (a *Admin) ConsumeMessageDirectly(ctx context.Context, group, clientID, offsetMsgID string) (*ConsumeDirectlyResult, error) {
	host, _, err := message.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return nil, fmt.Errorf("petrel client: consume %q directly: %w", offsetMsgID, err)
	}
	addr := host.String()
	name := a.inst.brokerNameOf(tcpAddr(addr))
	req := protocol.NewRequest(protocol.ConsumeMessageDirectly, protocol.FieldsOf(
		"consumerGroup", group, "clientId", clientID, "msgId", offsetMsgID), nil)
	resp, err := a.invoke(ctx, name, addr, req)
	if err != nil {
		return nil, err
	}
	var res ConsumeDirectlyResult
	if err := json.Unmarshal(resp.Body, &res); err != nil {
		return nil, fmt.Errorf("petrel client: consume %s directly: undecodable answer: %w", offsetMsgID, err)
	}
	return &res, nil
}
