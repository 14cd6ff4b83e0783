package client

import (
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// QueueSelector picks the queue a message is sent to. Select gets the
// topic's writable queues (never empty) and returns one of them.
type QueueSelector interface {
	Select(msg *Message, queues []MessageQueue, hint SelectHint) MessageQueue
}

// SelectHint tells a selector what the producer knows about brokers.
type SelectHint struct {
	// LastBroker is the broker the previous attempt of this send failed
	// on; empty on the first attempt.
	LastBroker string
	// Available reports whether a broker is usable now: false while the
	// producer isolates it after a failure or slow answers.
	Available func(brokerName string) bool
}

// SelectorFunc adapts a function to QueueSelector.
type SelectorFunc func(msg *Message, queues []MessageQueue, hint SelectHint) MessageQueue

// Select calls f.
func (f SelectorFunc) Select(msg *Message, queues []MessageQueue, hint SelectHint) MessageQueue {
	return f(msg, queues, hint)
}

// RoundRobinSelector spreads messages over the queues in turn, skipping
// queues of unavailable brokers and, on a retry, of the broker that just
// failed, while another broker has queues (RocketMQ's MQFaultStrategy with
// sendLatencyFaultEnable). It is the producers' default.
type RoundRobinSelector struct {
	next atomic.Uint32
}

// NewRoundRobinSelector returns a round-robin selector starting at a
// random queue, so processes do not all start on queue 0.
func NewRoundRobinSelector() *RoundRobinSelector {
	s := &RoundRobinSelector{}
	s.next.Store(rand.Uint32())
	return s
}

// Select implements QueueSelector.
func (s *RoundRobinSelector) Select(_ *Message, queues []MessageQueue, hint SelectHint) MessageQueue {
	n := uint32(len(queues))
	start := s.next.Add(1)
	for i := range n {
		q := queues[(start+i)%n]
		if q.BrokerName == hint.LastBroker || hint.Available != nil && !hint.Available(q.BrokerName) {
			continue
		}
		if i > 0 {
			s.next.Add(i) // go on after the queue taken
		}
		return q
	}
	// Every broker is unavailable or the one that failed: prefer another
	// broker than the last, else take the next queue anyway.
	for i := range n {
		if q := queues[(start+i)%n]; q.BrokerName != hint.LastBroker {
			return q
		}
	}
	return queues[start%n]
}

// HashSelector sends messages with the same ShardingKey to the same queue
// (FNV-1a of the key modulo the queue count, as the Go client's hash
// selector), so their order is kept; messages without a key go to a random
// queue. Retries stay on the key's queue: moving would break the order.
type HashSelector struct{}

// Select implements QueueSelector.
func (HashSelector) Select(msg *Message, queues []MessageQueue, _ SelectHint) MessageQueue {
	if msg.ShardingKey == "" {
		return queues[rand.IntN(len(queues))]
	}
	h := fnv.New32a()
	h.Write([]byte(msg.ShardingKey))
	return queues[h.Sum32()%uint32(len(queues))]
}

// Latency fault tolerance (RocketMQ's MQFaultStrategy): an answer slower
// than latencyMax[i] isolates the broker for notAvailable[i]; a failure
// isolates it for failureIsolation.
var (
	latencyMax       = [...]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 550 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 15 * time.Second}
	notAvailable     = [...]time.Duration{0, 0, 30 * time.Second, 60 * time.Second, 2 * time.Minute, 3 * time.Minute, 10 * time.Minute}
	failureIsolation = 30 * time.Second
)

// faultTracker remembers until when each broker is isolated.
type faultTracker struct {
	mu    sync.RWMutex
	until map[string]time.Time
	now   func() time.Time
}

func newFaultTracker() *faultTracker {
	return &faultTracker{until: make(map[string]time.Time), now: time.Now}
}

// record notes how a request to broker went.
func (f *faultTracker) record(broker string, latency time.Duration, failed bool) {
	var isolate time.Duration
	if failed {
		isolate = failureIsolation
	} else {
		for i := len(latencyMax) - 1; i >= 0; i-- {
			if latency >= latencyMax[i] {
				isolate = notAvailable[i]
				break
			}
		}
	}
	f.mu.RLock()
	_, known := f.until[broker]
	f.mu.RUnlock()
	if isolate == 0 && !known {
		return // the common case: a fast answer from a healthy broker
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if isolate == 0 {
		delete(f.until, broker)
		return
	}
	f.until[broker] = f.now().Add(isolate)
}

// available reports whether broker is not isolated now.
func (f *faultTracker) available(broker string) bool {
	f.mu.RLock()
	t, ok := f.until[broker]
	f.mu.RUnlock()
	return !ok || !f.now().Before(t)
}
