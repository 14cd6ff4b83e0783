package client

import (
	"context"
	"errors"
	"sync"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// heartbeatData lists the instance's producer and consumer groups; nil
// when it has neither (then there is nothing to tell brokers).
func (in *instance) heartbeatData() *body.HeartbeatData {
	in.members.Lock()
	defer in.members.Unlock()
	if len(in.members.producers) == 0 && len(in.members.consumers) == 0 {
		return nil
	}
	hb := &body.HeartbeatData{
		ClientID:        in.clientID,
		ProducerDataSet: make([]body.ProducerData, 0, len(in.members.producers)),
		ConsumerDataSet: make([]body.ConsumerData, 0, len(in.members.consumers)),
	}
	for g := range in.members.producers {
		hb.ProducerDataSet = append(hb.ProducerDataSet, body.ProducerData{GroupName: g})
	}
	for _, c := range in.members.consumers {
		hb.ConsumerDataSet = append(hb.ConsumerDataSet, c.consumerData())
	}
	return hb
}

// heartbeat runs one round in the background goroutine, logging failures:
// the next round retries.
func (in *instance) heartbeat() {
	ctx, cancel := context.WithTimeout(in.ctx, in.cfg.RequestTimeout)
	defer cancel()
	if err := in.heartbeatNow(ctx); err != nil && in.ctx.Err() == nil {
		in.log.Warn("petrel client: heartbeat failed", "err", err)
	}
}

// heartbeatNow sends HEART_BEAT to every broker of the cached routes
// (masters only if the instance has no consumers, as the official clients
// do) and waits for all of them. Consumers call it at start so the broker
// knows them before they ask for the group's members.
func (in *instance) heartbeatNow(ctx context.Context) error {
	in.hbMu.Lock()
	defer in.hbMu.Unlock()
	hb := in.heartbeatData()
	if hb == nil {
		return nil
	}
	addrs := in.brokerAddrs(len(hb.ConsumerDataSet) == 0)
	if len(addrs) == 0 {
		return nil
	}
	payload := body.Marshal(hb)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for addr, name := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := in.invoke(ctx, name, addr, protocol.NewRequest(protocol.HeartBeat, nil, payload))
			if err == nil && resp.Code != protocol.Success {
				err = &BrokerError{Op: "HEART_BEAT", Broker: name, Addr: addr, Code: resp.Code, Remark: resp.Remark}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
