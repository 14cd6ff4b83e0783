package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 60 s at 3 significant digits (0.1% error),
// about 200 KiB per histogram. Latencies are recorded in microseconds; a
// value above the range is clamped to it and counted, so max never hides
// how bad it got.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histSigFigs   = 3
)

// Recorder is a concurrency-safe HDR latency histogram. hdrhistogram-go's
// Histogram is not safe for concurrent use; one mutex per recorder is
// cheap next to a network round trip per message.
type Recorder struct {
	mu      sync.Mutex
	h       *hdrhistogram.Histogram
	clamped int64
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)}
}

// Record adds one latency.
func (r *Recorder) Record(d time.Duration) { r.RecordN(d, 1) }

// RecordN adds n messages of the same latency (a batch).
func (r *Recorder) RecordN(d time.Duration, n int64) {
	us := d.Microseconds()
	r.mu.Lock()
	if us < histMinMicros {
		us = histMinMicros
	} else if us > histMaxMicros {
		us = histMaxMicros
		r.clamped += n
	}
	_ = r.h.RecordValues(us, n) // in range by construction
	r.mu.Unlock()
}

// Snapshot returns the latency summary recorded so far.
func (r *Recorder) Snapshot() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) float64 { return float64(v) }
	return Latency{
		Count:     r.h.TotalCount(),
		P50Micros: us(r.h.ValueAtQuantile(50)),
		P99Micros: us(r.h.ValueAtQuantile(99)),
		P999Micro: us(r.h.ValueAtQuantile(99.9)),
		MaxMicros: us(r.h.Max()),
		Clamped:   r.clamped,
	}
}

// Latency is a latency distribution's summary in microseconds.
type Latency struct {
	Count     int64   `json:"count"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
	P999Micro float64 `json:"p99_9_us"`
	MaxMicros float64 `json:"max_us"`
	// Clamped counts values above the histogram's 60 s range.
	Clamped int64 `json:"clamped,omitempty"`
}

// Result is a run's final report, also written as JSON by --json.
type Result struct {
	Target   string    `json:"target"`
	Workload Workload  `json:"workload"`
	Started  time.Time `json:"started"`
	// Elapsed is the measured interval: the duration, or for a drain test
	// the time from the consumers' start to the last backlog message.
	Elapsed Duration `json:"elapsed"`

	Sent        int64   `json:"sent"`
	SentRate    float64 `json:"sent_msgs_per_s"`
	SentMB      float64 `json:"sent_mb_per_s"`
	Consumed    int64   `json:"consumed"`
	ConsumeRate float64 `json:"consumed_msgs_per_s"`
	ConsumeMB   float64 `json:"consumed_mb_per_s"`
	// Missing counts messages acknowledged in the measured interval that
	// no consumer saw before the drain timeout.
	Missing int64 `json:"missing"`
	// Errors counts failed sends by kind (the Target's classification).
	Errors map[string]int64 `json:"errors"`

	// Backlog fill rate of a drain test.
	FillRate float64 `json:"fill_msgs_per_s,omitempty"`

	Publish   Latency `json:"publish_latency"`
	EndToEnd  Latency `json:"end_to_end_latency"`
	LoadAvg   string  `json:"load_average,omitempty"`
	FlushNote string  `json:"flush,omitempty"`
	// GoMaxProcs is the load generator's GOMAXPROCS during the run (the
	// embedded broker's too, when there is one).
	GoMaxProcs int `json:"gomaxprocs,omitempty"`
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// WriteTable writes r as an aligned text table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	wl := r.Workload
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "workload\t%s: %d producers (%s", wl.Name, wl.Producers, wl.SendMode)
	switch wl.SendMode {
	case ModeAsync:
		fmt.Fprintf(tw, ", window %d", wl.AsyncWindow)
	case ModeBatch:
		fmt.Fprintf(tw, ", %d per batch", wl.BatchSize)
	}
	rate := "max"
	if wl.Rate > 0 {
		rate = fmt.Sprintf("%d msgs/s", wl.Rate)
	}
	fmt.Fprintf(tw, "), %d consumers, %d queues, %d B, rate %s, %s\n", wl.Consumers, wl.Queues, wl.MessageSize, rate, wl.FlushMode)
	fmt.Fprintf(tw, "measured\t%s", time.Duration(r.Elapsed).Round(time.Millisecond))
	if r.LoadAvg != "" {
		fmt.Fprintf(tw, " (load average %s)", r.LoadAvg)
	}
	if r.GoMaxProcs > 0 {
		fmt.Fprintf(tw, ", GOMAXPROCS %d", r.GoMaxProcs)
	}
	fmt.Fprintln(tw)
	if wl.Backlog > 0 {
		fmt.Fprintf(tw, "backlog fill\t%d msgs at %.0f msgs/s\n", wl.Backlog, r.FillRate)
	}
	fmt.Fprintf(tw, "sent\t%d msgs\t%.0f msgs/s\t%.2f MB/s\n", r.Sent, r.SentRate, r.SentMB)
	fmt.Fprintf(tw, "consumed\t%d msgs\t%.0f msgs/s\t%.2f MB/s\n", r.Consumed, r.ConsumeRate, r.ConsumeMB)
	if r.Missing > 0 {
		fmt.Fprintf(tw, "not consumed\t%d msgs\n", r.Missing)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintf(tw, "errors\tnone\n")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(tw, "errors\t%s\t%d\n", k, r.Errors[k])
	}
	fmt.Fprintf(tw, "\nlatency (ms)\tcount\tp50\tp99\tp99.9\tmax\n")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"publish", r.Publish}, {"end-to-end", r.EndToEnd}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", l.name, l.l.Count, ms(l.l.P50Micros), ms(l.l.P99Micros), ms(l.l.P999Micro), ms(l.l.MaxMicros))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func ms(us float64) string { return fmt.Sprintf("%.3f", us/1000) }

// errorCounts counts errors by kind under a lock (errors are rare; the
// common path never takes it).
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errorCounts) add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = make(map[string]int64)
	}
	e.m[kind]++
	e.mu.Unlock()
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.m)
}

func (e *errorCounts) String() string {
	m := e.snapshot()
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
