package cpuprobe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func firstTwoCPUs() ([2]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return [2]int{}, fmt.Errorf("cpuprobe: sched_getaffinity: %w", err)
	}
	var cpus [2]int
	n := 0
	for cpu := 0; cpu < len(set)*64 && n < 2; cpu++ {
		if set.IsSet(cpu) {
			cpus[n] = cpu
			n++
		}
	}
	if n < 2 {
		return cpus, ErrUnsupported
	}
	return cpus, nil
}

var errTimeout = errors.New("the two threads did not meet in time")

// pingPong runs rounds round trips batches times between a thread pinned
// to cpus[0] and one pinned to cpus[1], and returns the fastest batch's
// mean round trip. Both goroutines lock their threads and exit locked,
// so the runtime discards the pinned threads instead of reusing them.
func pingPong(cpus [2]int, batches, rounds int, timeout time.Duration) (time.Duration, error) {
	var (
		line    atomic.Int64 // the cache line: odd from the first thread, even from the second
		stop    atomic.Bool
		wg      sync.WaitGroup
		pinErr  [2]error
		elapsed = make([]time.Duration, batches)
	)
	deadline := time.AfterFunc(timeout, func() { stop.Store(true) })
	defer deadline.Stop()
	// wait spins until the line holds want; false when the probe gave up.
	wait := func(want int64) bool {
		for line.Load() != want {
			if stop.Load() {
				return false
			}
		}
		return true
	}
	pin := func(i int) bool {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpus[i])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			pinErr[i] = fmt.Errorf("sched_setaffinity: %w", err)
			stop.Store(true)
			return false
		}
		return true
	}
	total := int64(batches * rounds)
	wg.Add(2)
	go func() { // the second CPU answers every odd value with the next even one
		defer wg.Done()
		if !pin(1) {
			return
		}
		line.Store(-1) // pinned and ready
		for v := int64(1); v < 2*total; v += 2 {
			if !wait(v) {
				return
			}
			line.Store(v + 1)
		}
	}()
	go func() {
		defer wg.Done()
		if !pin(0) || !wait(-1) {
			return
		}
		v := int64(0)
		for b := range batches {
			start := time.Now()
			for range rounds {
				line.Store(v + 1)
				if !wait(v + 2) {
					return
				}
				v += 2
			}
			elapsed[b] = time.Since(start)
		}
	}()
	wg.Wait()
	if err := errors.Join(pinErr[0], pinErr[1]); err != nil {
		return 0, err
	}
	if elapsed[batches-1] == 0 { // the last batch never finished
		return 0, errTimeout
	}
	best := elapsed[0]
	for _, e := range elapsed[1:] {
		best = min(best, e)
	}
	return best / time.Duration(rounds), nil
}
