package reuse

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// An item that blocks does not hold up the next one: the pool starts
// another goroutine rather than queueing.
func TestPoolRunsItemsConcurrently(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	release := make(chan struct{})
	second := make(chan struct{})
	p := &Pool[int]{Idle: time.Hour, Stop: stop, WG: &wg, Do: func(v int) {
		if v == 1 {
			<-release
		} else {
			close(second)
		}
	}}
	p.Go(1)
	p.Go(2)
	<-second // ran while item 1 still blocks
	close(release)
	close(stop)
	wg.Wait() // Stop ends the idle goroutines
	if n := p.started.Load(); n != 2 {
		t.Fatalf("%d goroutines started, want 2", n)
	}
}

// Items given one after another reuse the idle goroutine instead of
// starting one each.
func TestPoolReusesIdleGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ran atomic.Int32
	p := &Pool[int]{Idle: time.Hour, Stop: stop, WG: &wg, Do: func(int) { ran.Add(1) }}
	const items = 100
	for i := range items {
		p.Go(i)
		for ran.Load() != int32(i+1) || p.idle.Load() == 0 {
			runtime.Gosched()
		}
	}
	// A goroutine counted idle may not have reached its receive yet when
	// the next item comes; then a second one starts. Rare, never most.
	if n := p.started.Load(); n > items/2 {
		t.Fatalf("%d goroutines started for %d items given one at a time", n, items)
	}
	close(stop)
	wg.Wait()
}

// Idle goroutines exit by themselves once Idle passes without work.
func TestPoolIdleGoroutinesExit(t *testing.T) {
	defer goleak.VerifyNone(t)
	var wg sync.WaitGroup
	var ran atomic.Int32
	p := &Pool[int]{Idle: time.Millisecond, WG: &wg, Do: func(int) { ran.Add(1) }}
	for i := range 10 {
		p.Go(i)
	}
	wg.Wait() // returns only once every goroutine has exited
	if n := ran.Load(); n != 10 {
		t.Fatalf("%d items ran, want 10", n)
	}
}
