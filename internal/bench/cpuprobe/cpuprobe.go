// Package cpuprobe measures how far apart two of the machine's CPUs are:
// the round trip of one cache line between two threads pinned to them.
//
// Why: on the 2-vCPU VM the benchmarks run on, the host moves the two
// vCPUs between placements that share a cache (a round trip of about
// 50 ns) and placements that do not (about 350 ns), at random, every few
// tens of seconds. Everything that hands work from one CPU to the other
// (a loopback write waking a reader, a goroutine woken on another P)
// costs more in the far placement: petrel's row 1 runs 25% slower and
// NATS's 20%. A comparison of two systems is only a comparison of
// systems when both ran in the same placement, so bench/run.sh probes
// before and after each side and repeats a row whose probes disagree.
// The guest cannot see the placement any other way.
package cpuprobe

import (
	"errors"
	"fmt"
	"time"
)

// Result is one probe.
type Result struct {
	// CPUs are the two CPUs probed: the first two the process may run on.
	CPUs [2]int `json:"cpus"`
	// RoundTrip is the fastest batch's mean time for a cache line to go
	// from the first CPU to the second and back. The fastest batch, not
	// the mean: a batch during which the host or guest preempts one of the
	// threads measures the preemption, not the distance.
	RoundTrip time.Duration `json:"-"`
	// RoundTripNs is RoundTrip in nanoseconds, for JSON.
	RoundTripNs int64 `json:"cross_cpu_round_trip_ns"`
}

// ErrUnsupported is returned where threads cannot be pinned (not Linux)
// or the process may run on fewer than two CPUs.
var ErrUnsupported = errors.New("cpuprobe: needs Linux and at least two CPUs")

// Batches and RoundsPerBatch size a probe: about 5 ms in the near
// placement, 35 ms in the far one, on an idle machine.
const (
	Batches        = 5
	RoundsPerBatch = 20000
)

// Probe measures the round trip between the first two CPUs the process
// may run on. It gives up after timeout, for a machine so busy that the
// two threads never run at the same time. Probe an idle machine: with
// two busy loops per vCPU the 2-vCPU VM read 2.6 µs instead of 0.05-0.4,
// and took 0.5 s instead of 5-35 ms (2 s with six loops per vCPU).
func Probe(timeout time.Duration) (Result, error) {
	cpus, err := firstTwoCPUs()
	if err != nil {
		return Result{}, err
	}
	best, err := pingPong(cpus, Batches, RoundsPerBatch, timeout)
	if err != nil {
		return Result{}, fmt.Errorf("cpuprobe: CPUs %d and %d: %w", cpus[0], cpus[1], err)
	}
	return Result{CPUs: cpus, RoundTrip: best, RoundTripNs: best.Nanoseconds()}, nil
}
