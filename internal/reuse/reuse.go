// Package reuse runs work items on goroutines that stay a while for more.
//
// A fresh goroutine starts on a small stack and copies it each time it
// grows through a deep call chain: for a broker's handlers that was 7% of
// its CPU, and a goroutine per held-pull answer or per async callback
// cost 1-2% more. A Pool hands an item to a goroutine that is idle (its
// stack already grown), and starts one only when none is, so work never
// waits for another item to finish: items run as concurrently as they
// would on goroutines of their own.
package reuse

import (
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs Do for every item given to Go.
type Pool[T any] struct {
	// Do handles one item.
	Do func(T)
	// Idle is how long a goroutine waits for another item before it exits.
	Idle time.Duration
	// Stop, when closed, makes idle goroutines exit at once (the owner is
	// closing). Items given to Go after that still run.
	Stop <-chan struct{}
	// WG, if set, counts the pool's goroutines, for an owner that must
	// wait for them to exit.
	WG *sync.WaitGroup

	work    chan T
	once    sync.Once
	started atomic.Int32 // goroutines started, for tests
	idle    atomic.Int32 // goroutines about to wait or waiting, for tests
}

// Go runs Do(v) on an idle goroutine of the pool, or on a new one.
func (p *Pool[T]) Go(v T) {
	p.once.Do(func() { p.work = make(chan T) })
	select {
	case p.work <- v: // an idle goroutine was receiving
	default:
		if p.WG != nil {
			p.WG.Add(1)
		}
		p.started.Add(1)
		go p.serve(v)
	}
}

func (p *Pool[T]) serve(v T) {
	if p.WG != nil {
		defer p.WG.Done()
	}
	p.Do(v)
	idle := time.NewTimer(p.Idle)
	defer idle.Stop()
	for {
		p.idle.Add(1)
		select {
		case v = <-p.work:
			p.idle.Add(-1)
			p.Do(v)
			idle.Reset(p.Idle)
		case <-idle.C:
			p.idle.Add(-1)
			return
		case <-p.Stop:
			p.idle.Add(-1)
			return
		}
	}
}
