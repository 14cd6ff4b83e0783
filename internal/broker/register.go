package broker

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/namesrv"
)

const registerTimeout = 3 * time.Second

// registerNow sends the broker's topic table to every name server and
// returns when each has answered or failed (RocketMQ's registerBrokerAll).
// It runs at start, every registerNameServerPeriod, and whenever a topic
// is created, so clients can route to a new topic at once.
func (b *Broker) registerNow() {
	if len(b.cfg.NamesrvAddr) == 0 {
		return
	}
	b.registerMu.Lock()
	defer b.registerMu.Unlock()
	hdr := b.registerHeader()
	rb := body.RegisterBrokerBody{TopicConfigSerializeWrapper: b.topics.snapshot(), FilterServerList: []string{}}
	var wg sync.WaitGroup
	for _, addr := range b.cfg.NamesrvAddr {
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
			defer cancel()
			resp, err := b.nsClient.Invoke(ctx, addr, namesrv.NewRegisterBrokerRequest(hdr, rb))
			if err == nil {
				_, _, err = namesrv.ParseRegisterBrokerResponse(resp)
			}
			if err != nil {
				b.log.Warn("register with name server failed", "namesrv", addr, "err", err)
			}
		}(addr)
	}
	wg.Wait()
}

func (b *Broker) registerHeader() namesrv.RegisterBrokerHeader {
	addr := b.storeHost.String()
	return namesrv.RegisterBrokerHeader{
		BrokerName:   b.cfg.BrokerName,
		BrokerAddr:   addr,
		ClusterName:  b.cfg.BrokerClusterName,
		HAServerAddr: addr,
		BrokerID:     b.cfg.BrokerID,
	}
}

// unregister tells the name servers the broker is leaving, so routes stop
// naming it before it stops answering.
func (b *Broker) unregister(ctx context.Context) {
	hdr := b.registerHeader()
	for _, addr := range b.cfg.NamesrvAddr {
		c, cancel := context.WithTimeout(ctx, registerTimeout)
		_, err := b.nsClient.Invoke(c, addr, namesrv.NewUnregisterBrokerRequest(hdr))
		cancel()
		if err != nil && !strings.Contains(err.Error(), "closed") {
			b.log.Warn("unregister from name server failed", "namesrv", addr, "err", err)
		}
	}
}
