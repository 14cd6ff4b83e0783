// Package gcpace keeps the Go garbage collector from running far more often
// than a broker's heap needs.
//
// The runtime starts a collection when the heap has grown by GOGC percent
// (100 by default) of the heap the last one left live. A petrel broker keeps
// messages in the page cache, not on the heap: its live heap is a few MiB
// while it moves tens of MB a second through short-lived buffers and
// commands, so at the default a busy broker collects 80-90 times a second.
// Each collection stops every goroutine twice and takes a quarter of the
// Ps for its mark phase; on a 2-vCPU machine that is where much of the
// end-to-end latency tail came from (docs/benchmarks.md: the slowest 1% of
// messages overlapped a collection 63% of the time, a random message 17%).
//
// A Pacer gives the heap a fixed headroom instead: after each collection
// the next one starts once at least the headroom is allocated, or
// GOGC percent of the live heap if that is more. It does so by setting
// GOGC (debug.SetGCPercent) from the live heap, read every PollInterval.
// A large live heap is paced exactly as before; a small one costs at most
// the headroom in memory more. GOMEMLIMIT, when set, still bounds the
// heap: the runtime honours whichever limit is reached first.
package gcpace

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultHeadroomMiB is the headroom petrel's broker commands use unless
// told otherwise (--gc-headroom-mb): at the 80-90 collections a second of
// GOGC=100, a busy broker allocated about 4 MiB between collections; 64
// MiB cuts that to a few a second for a few tens of MiB of memory, which
// a broker's page cache dwarfs.
const DefaultHeadroomMiB = 64

// PollInterval is how often a Pacer reads the live heap. A collection
// every few hundred milliseconds under load is what it aims for, so a
// tenth of a second follows a live heap that grows or shrinks in time.
const PollInterval = 100 * time.Millisecond

// maxPercent bounds the GOGC a Pacer sets, so a nearly empty heap (at
// start) does not get an absurd percentage.
const maxPercent = 100_000

// minLive is the live heap assumed when the runtime reports less. It is
// the runtime's own minimum heap (4 MiB at GOGC=100, scaled by GOGC), so
// before the first collection, when the live heap reads 0, the first goal
// is the headroom too.
const minLive = 4 << 20

// Percent is the GOGC that lets the heap grow by headroom bytes past live,
// and never less than base (the GOGC the process started with). Below the
// runtime's minimum heap the goal is the scaled minimum, headroom bytes in
// all.
func Percent(live, headroom int64, base int) int {
	live = max(live, minLive)
	p := (headroom*100 + live - 1) / live // rounded up
	return int(min(max(p, int64(base)), maxPercent))
}

// Pacer sets GOGC from the live heap until Close.
type Pacer struct {
	headroom int64
	base     int
	stop     chan struct{}
	done     chan struct{}
}

// Start starts pacing with the given headroom in bytes. It returns nil,
// and changes nothing, when headroom is not positive, when GOGC is set in
// the environment (the operator's choice wins) or when GOGC is off.
func Start(headroom int64, log *slog.Logger) *Pacer {
	if headroom <= 0 {
		return nil
	}
	if _, set := os.LookupEnv("GOGC"); set {
		log.Info("gcpace: GOGC is set in the environment; not pacing the collector")
		return nil
	}
	base := int(readMetric("/gc/gogc:percent"))
	if base <= 0 {
		return nil // off (GOGC=off or SetGCPercent(-1)), or unknown
	}
	p := &Pacer{headroom: headroom, base: base, stop: make(chan struct{}), done: make(chan struct{})}
	log.Info("gcpace: pacing the garbage collector", "headroomMiB", headroom>>20)
	go p.run(p.adjust(base))
	return p
}

// Close stops pacing and restores the GOGC found at Start. It may be
// called on a nil Pacer.
func (p *Pacer) Close() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	debug.SetGCPercent(p.base)
}

func (p *Pacer) run(current int) {
	defer close(p.done)
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			current = p.adjust(current)
		case <-p.stop:
			return
		}
	}
}

// adjust sets GOGC for the current live heap, unless it is within an
// eighth of current (each change recomputes the runtime's pacing), and
// returns the GOGC in effect.
func (p *Pacer) adjust(current int) int {
	want := Percent(liveHeap(), p.headroom, p.base)
	if diff := want - current; diff == 0 || (want != p.base && diff < current/8 && -diff < current/8) {
		return current
	}
	debug.SetGCPercent(want)
	return want
}

// liveHeap is the heap the last collection marked live (0 before the
// first).
func liveHeap() int64 { return int64(readMetric("/gc/heap/live:bytes")) }

// readMetric reads one uint64 runtime metric; 0 if the runtime lacks it.
func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
