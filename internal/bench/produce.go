package bench

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// produce is one producer goroutine: it sends until stopProducer closes
// (or, in a drain test, until the backlog is all sent), paced to its share
// of the target rate. Sends use ctx, not the stop signal, so a send in
// flight when the clock runs out completes and is counted normally.
func (r *run) produce(ctx context.Context, p Publisher, id int) {
	per := 1
	if r.w.SendMode == ModeBatch {
		per = r.w.BatchSize
	}
	pace := newPacer(r.w, per)
	var inflight sync.WaitGroup
	var window chan struct{}
	if r.w.SendMode == ModeAsync {
		window = make(chan struct{}, r.w.AsyncWindow)
	}
	defer inflight.Wait()
	for {
		n := per
		if r.w.Backlog > 0 {
			if n = r.takeBacklog(per); n == 0 {
				return
			}
		}
		if !pace.wait(ctx, r.stopProducer) {
			return
		}
		if window != nil {
			select {
			case window <- struct{}{}:
			case <-r.stopProducer:
				return
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-r.stopProducer:
			return
		case <-ctx.Done():
			return
		default:
		}
		sent := time.Now()
		ns := sent.UnixNano()
		counted := ns >= r.start.Load() && ns < r.end.Load()
		switch r.w.SendMode {
		case ModeSync:
			b := r.body(ns)
			err := p.Send(ctx, b)
			r.finish(sent, counted, 1, err)
			r.recycle(b, err)
		case ModeOneway:
			b := r.body(ns)
			err := p.SendOneway(ctx, b)
			r.finish(sent, counted, 1, err)
			r.recycle(b, err)
		case ModeBatch:
			bodies := make([][]byte, n)
			for i := range bodies {
				bodies[i] = r.body(ns)
			}
			err := p.SendBatch(ctx, bodies)
			r.finish(sent, counted, n, err)
			for _, b := range bodies {
				r.recycle(b, err)
			}
		case ModeAsync:
			inflight.Add(1)
			b := r.body(ns)
			err := p.SendAsync(ctx, b, func(err error) {
				r.finish(sent, counted, 1, err)
				r.recycle(b, err)
				<-window
				inflight.Done()
			})
			if err != nil {
				r.finish(sent, counted, 1, err)
				<-window
				inflight.Done()
			}
		}
	}
}

// takeBacklog claims up to n of the drain test's remaining messages.
func (r *run) takeBacklog(n int) int {
	for {
		left := r.backlogLeft.Load()
		if left <= 0 {
			return 0
		}
		take := min(int64(n), left)
		if r.backlogLeft.CompareAndSwap(left, left-take) {
			return int(take)
		}
	}
}

// body returns a body carrying the send timestamp, reusing one whose send
// completed. The embedded petrel shares the load generator's Go runtime,
// so a fresh body per message would add the generator's garbage to the
// broker's collections (a twelfth of row 4's allocation), which the peer's
// server, in a process of its own, does not pay.
func (r *run) body(sentNanos int64) []byte {
	var b []byte
	select {
	case b = <-r.bodies:
	default:
		b = make([]byte, r.w.MessageSize)
	}
	binary.BigEndian.PutUint64(b, uint64(sentNanos))
	return b
}

// maxKeptBodies bounds the bodies kept for reuse: more than the sends a
// standard workload has in flight (4 producers with a window of 1000).
const maxKeptBodies = 8192

// recycle takes back a body whose send completed. A failed send's body is
// left to the garbage collector: a target may still hold it for a retry.
// Nothing but the first 8 bytes is ever written, so the rest stays zero.
func (r *run) recycle(b []byte, err error) {
	if err != nil {
		return
	}
	select {
	case r.bodies <- b:
	default: // enough kept
	}
}

// finish accounts for n messages sent at sent whose outcome is err.
func (r *run) finish(sent time.Time, counted bool, n int, err error) {
	if err != nil {
		if counted {
			r.errs.add(r.t.ErrorKind(err))
		}
		return
	}
	r.sentAll.Add(int64(n))
	if counted {
		r.sentOK.Add(int64(n))
		r.pub.RecordN(time.Since(sent), int64(n))
	}
}

// pacer spaces one producer's sends to its share of the target rate. When
// it falls behind it sends at once to catch up, but never by more than a
// second's worth, so a stall is not followed by an unbounded burst.
// Latency is measured from the actual send, not the scheduled one, like
// the OpenMessaging Benchmark does.
type pacer struct {
	interval time.Duration
	next     time.Time
	timer    *time.Timer
}

func newPacer(w Workload, per int) *pacer {
	if w.Rate <= 0 || w.Backlog > 0 {
		return &pacer{}
	}
	perProducer := float64(w.Rate) / float64(w.Producers)
	return &pacer{interval: time.Duration(float64(time.Second) * float64(per) / perProducer), next: time.Now()}
}

// wait blocks until the next send is due; false means stop.
func (p *pacer) wait(ctx context.Context, stop <-chan struct{}) bool {
	if p.interval == 0 {
		return true
	}
	now := time.Now()
	if p.next.Before(now.Add(-time.Second)) {
		p.next = now
	}
	due := p.next
	p.next = p.next.Add(p.interval)
	d := due.Sub(now)
	if d <= 0 {
		return true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-stop:
		p.timer.Stop()
		return false
	case <-ctx.Done():
		p.timer.Stop()
		return false
	}
}
