package broker

import (
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/reuse"
)

// holdKey names a queue that pulls wait on.
type holdKey struct {
	topic   string
	queueID int32
}

// parkedPull is a PULL_MESSAGE that found nothing and waits for a message
// (RocketMQ's PullRequestHoldService).
type parkedPull struct {
	pr     *pullRequest
	key    holdKey
	offset int64
	timer  *time.Timer
	done   bool // guarded by pullHolds.mu
}

// pullHolds keeps parked pulls by queue. A message's arrival (the store's
// dispatcher calls Arrived) or the pull's suspend timeout re-executes it
// once, without suspending or committing again, and sends the reply.
type pullHolds struct {
	b *Broker

	mu      sync.Mutex
	parked  map[holdKey][]*parkedPull
	closing bool
	wg      sync.WaitGroup // re-executions in flight

	// replies answers woken pulls on reused goroutines: a fresh one per
	// answer grew its stack through GetMessages each time (1.3% of the
	// CPU of row 4 of the benchmark).
	replies   reuse.Pool[*parkedPull]
	stop      chan struct{} // closed by releaseAll: idle reply goroutines exit
	replyLoop sync.WaitGroup
}

func newPullHolds(b *Broker) *pullHolds {
	p := &pullHolds{b: b, parked: make(map[holdKey][]*parkedPull), stop: make(chan struct{})}
	p.replies = reuse.Pool[*parkedPull]{Do: p.reply, Idle: 2 * time.Second, Stop: p.stop, WG: &p.replyLoop}
	return p
}

// park holds pr for at most hold; false means it was not parked (the
// broker is shutting down) and the caller answers now.
func (p *pullHolds) park(pr *pullRequest, hold time.Duration) bool {
	k := holdKey{pr.h.topic, pr.h.queueID}
	pp := &parkedPull{pr: pr, key: k, offset: pr.h.offset}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return false
	}
	p.parked[k] = append(p.parked[k], pp)
	pp.timer = time.AfterFunc(hold, func() { p.wake(pp) })
	p.mu.Unlock()
	// A message may have arrived between the empty read and parking; its
	// notification found nothing to wake, so look once more.
	if p.b.store.MaxOffset(k.topic, k.queueID) > pp.offset {
		p.wake(pp)
	}
	return true
}

// Arrived implements store.ArrivalListener: wake the pulls on the queue
// waiting at or before queueOffset whose filter wants the message. It runs
// on the store's dispatcher and only hands the work to goroutines.
func (p *pullHolds) Arrived(topic string, queueID int32, queueOffset, tagsCode, _ int64) {
	k := holdKey{topic, queueID}
	p.mu.Lock()
	list := p.parked[k]
	if len(list) == 0 {
		p.mu.Unlock()
		return
	}
	var wake []*parkedPull
	keep := list[:0]
	for _, pp := range list {
		if pp.offset <= queueOffset && (pp.pr.filter == nil || pp.pr.filter.MatchTagsCode(tagsCode)) {
			wake = append(wake, pp)
		} else {
			keep = append(keep, pp)
		}
	}
	clear(list[len(keep):])
	if len(keep) == 0 {
		delete(p.parked, k)
	} else {
		p.parked[k] = keep
	}
	for _, pp := range wake {
		pp.done = true
		pp.timer.Stop()
		p.wg.Add(1)
		p.replies.Go(pp)
	}
	p.mu.Unlock()
}

// wake answers one parked pull now (timeout, shutdown, or the re-check in
// park), unless something else already did.
func (p *pullHolds) wake(pp *parkedPull) {
	p.mu.Lock()
	if pp.done {
		p.mu.Unlock()
		return
	}
	pp.done = true
	pp.timer.Stop()
	list := p.parked[pp.key]
	for i, x := range list {
		if x == pp {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.parked, pp.key)
	} else {
		p.parked[pp.key] = list
	}
	p.wg.Add(1)
	p.mu.Unlock()
	p.reply(pp)
}

// reply re-executes the pull and sends whatever it finds.
func (p *pullHolds) reply(pp *parkedPull) {
	defer p.wg.Done()
	buf := pullBuffers.Get().(*[]byte)
	resp, _ := p.b.executePull(pp.pr, *buf)
	p.b.replyPull(pp.pr, resp, buf)
}

// releaseAll answers every parked pull now and refuses new ones (shutdown).
func (p *pullHolds) releaseAll() {
	p.mu.Lock()
	p.closing = true
	var all []*parkedPull
	for _, list := range p.parked {
		all = append(all, list...)
	}
	p.mu.Unlock()
	for _, pp := range all {
		p.wake(pp)
	}
	p.wg.Wait()
	close(p.stop)
	p.replyLoop.Wait()
}

// count is the number of parked pulls (for tests and runtime info).
func (p *pullHolds) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.parked {
		n += len(l)
	}
	return n
}
