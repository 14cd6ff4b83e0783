package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one broker as the load generator sees it. Implementations
// live next to their client (cmd/petrel-bench for petrel, bench/nats for
// NATS JetStream).
type Target interface {
	// Name names the target in reports ("petrel", "nats").
	Name() string
	// Prepare creates topic with the given queue count.
	Prepare(ctx context.Context, topic string, queues int) error
	// NewPublisher returns the publisher of producer id (0-based).
	NewPublisher(ctx context.Context, topic string, id int) (Publisher, error)
	// StartConsumers starts n consumers of one group on topic, calling
	// deliver with each message's body (possibly concurrently), from its
	// first message. Closing the result stops them all and waits.
	StartConsumers(ctx context.Context, topic string, n int, deliver func(body []byte)) (io.Closer, error)
	// ErrorKind classifies a failed send for the report ("timeout",
	// "SYSTEM_BUSY", ...).
	ErrorKind(err error) string
}

// Publisher sends for one producer goroutine; only SendAsync's callback
// may run on another goroutine. A body passed to it is not reused by the
// runner.
type Publisher interface {
	// Send sends one message and waits for its acknowledgement.
	Send(ctx context.Context, body []byte) error
	// SendAsync starts a send and calls done with its outcome exactly once.
	SendAsync(ctx context.Context, body []byte, done func(error)) error
	// SendOneway sends without an acknowledgement.
	SendOneway(ctx context.Context, body []byte) error
	// SendBatch sends bodies in one request (or the target's nearest
	// equivalent) and waits for the acknowledgement.
	SendBatch(ctx context.Context, bodies [][]byte) error
	// Close waits for the publisher's sends in flight and releases it.
	Close() error
}

// Options tunes a run; the zero value reports every 5 s to stderr.
type Options struct {
	// Logger receives errors; nil means slog.Default().
	Logger *slog.Logger
	// Progress receives a line every ReportEvery; nil means os.Stderr.
	Progress io.Writer
	// ReportEvery is the progress interval; zero means 5 s.
	ReportEvery time.Duration
	// DrainTimeout bounds the wait, after the producers stop, for the
	// consumers to see every message acknowledged in the measured
	// interval (and, for a drain test, the whole backlog's consumption
	// after the first minute). Zero means 30 s.
	DrainTimeout time.Duration
}

// run holds one run's shared counters. The measured interval is fixed
// before the first send ([start, end) in Unix nanoseconds), so producers
// and consumers classify a message by its send timestamp alone and always
// agree.
type run struct {
	w      Workload
	t      Target
	opts   Options
	topic  string
	start  atomic.Int64 // measured interval, Unix ns
	end    atomic.Int64
	errs   errorCounts
	pub    *Recorder
	e2e    *Recorder
	bodies chan []byte // message bodies whose sends completed (see body)
	window atomic.Bool // consumption is counted (set by the clock)

	sentAll      atomic.Int64 // every acknowledged send, for progress
	consumedAll  atomic.Int64
	sentOK       atomic.Int64 // acknowledged sends started in the interval
	consumedIn   atomic.Int64 // consumed while the interval was open
	e2eSeen      atomic.Int64 // consumed messages sent in the interval
	backlogLeft  atomic.Int64 // drain test: messages still to send
	stopProducer chan struct{}
}

// Run drives t with w and returns the report. ctx cancels the run (the
// report then covers what was measured).
func Run(ctx context.Context, t Target, w Workload, opts Options) (*Result, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if opts.ReportEvery <= 0 {
		opts.ReportEvery = 5 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	r := &run{w: w, t: t, opts: opts, pub: NewRecorder(), e2e: NewRecorder(), stopProducer: make(chan struct{}),
		bodies: make(chan []byte, maxKeptBodies),
		topic:  w.Topic + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	r.start.Store(math.MaxInt64)
	r.end.Store(math.MaxInt64)
	if err := t.Prepare(ctx, r.topic, w.Queues); err != nil {
		return nil, fmt.Errorf("prepare topic %s: %w", r.topic, err)
	}
	res := &Result{Target: t.Name(), Workload: w, Started: time.Now().UTC(), LoadAvg: loadAverage(),
		GoMaxProcs: runtime.GOMAXPROCS(0)}
	var err error
	if w.Backlog > 0 {
		err = r.drain(ctx, res)
	} else {
		err = r.steady(ctx, res)
	}
	if err != nil {
		return nil, err
	}
	res.Errors = r.errs.snapshot()
	res.Publish = r.pub.Snapshot()
	if w.Backlog == 0 {
		res.EndToEnd = r.e2e.Snapshot()
	}
	secs := time.Duration(res.Elapsed).Seconds()
	if secs > 0 {
		mb := float64(w.MessageSize) / 1e6
		res.SentRate = float64(res.Sent) / secs
		if w.Backlog > 0 { // sending was the fill, timed on its own
			res.SentRate = res.FillRate
		}
		res.SentMB = res.SentRate * mb
		res.ConsumeRate = float64(res.Consumed) / secs
		res.ConsumeMB = res.ConsumeRate * mb
	}
	return res, nil
}

// steady runs the producers (and consumers) through the warm-up and the
// measured duration, then waits for the consumers to catch up.
func (r *run) steady(ctx context.Context, res *Result) error {
	var consumers io.Closer
	if r.w.Consumers > 0 {
		c, err := r.t.StartConsumers(ctx, r.topic, r.w.Consumers, r.deliver)
		if err != nil {
			return fmt.Errorf("start consumers: %w", err)
		}
		consumers = c
		defer consumers.Close()
	}
	begin := time.Now()
	start := begin.Add(time.Duration(r.w.Warmup))
	end := start.Add(time.Duration(r.w.Duration))
	r.start.Store(start.UnixNano())
	r.end.Store(end.UnixNano())

	pubs, err := r.publishers(ctx)
	if err != nil {
		return err
	}
	stopProgress := r.progress("warm-up")
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Go(func() { r.produce(ctx, p, i) })
	}
	clock := time.NewTimer(time.Until(start))
	select {
	case <-clock.C:
		r.window.Store(true)
		clock.Reset(time.Until(end))
		select {
		case <-clock.C:
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	clock.Stop()
	r.window.Store(false)
	stopped := time.Now()
	close(r.stopProducer)
	wg.Wait()
	closeErr := closeAll(pubs)
	if r.w.Consumers > 0 {
		r.waitFor(ctx, func() bool { return r.e2eSeen.Load() >= r.sentOK.Load() }, r.opts.DrainTimeout)
		res.Missing = max(0, r.sentOK.Load()-r.e2eSeen.Load())
	}
	stopProgress()
	if stopped.After(end) {
		stopped = end
	}
	res.Elapsed = Duration(max(0, stopped.Sub(start)))
	res.Sent = r.sentOK.Load()
	res.Consumed = r.consumedIn.Load()
	return closeErr
}

// drain stores the backlog with no consumer running, then times its
// consumption from the consumers' start to the last message.
func (r *run) drain(ctx context.Context, res *Result) error {
	r.backlogLeft.Store(int64(r.w.Backlog))
	r.start.Store(0) // every send counts
	pubs, err := r.publishers(ctx)
	if err != nil {
		return err
	}
	stopProgress := r.progress("fill")
	fillStart := time.Now()
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Go(func() { r.produce(ctx, p, i) })
	}
	wg.Wait()
	closeErr := closeAll(pubs)
	res.FillRate = float64(r.sentOK.Load()) / time.Since(fillStart).Seconds()
	stopProgress()
	if closeErr != nil || ctx.Err() != nil {
		return errors.Join(closeErr, ctx.Err())
	}
	want := r.sentOK.Load()
	stopProgress = r.progress("drain")
	defer stopProgress()
	r.window.Store(true)
	drainStart := time.Now()
	c, err := r.t.StartConsumers(ctx, r.topic, r.w.Consumers, r.deliver)
	if err != nil {
		return fmt.Errorf("start consumers: %w", err)
	}
	defer c.Close()
	timeout := time.Minute + r.opts.DrainTimeout
	r.waitFor(ctx, func() bool { return r.consumedIn.Load() >= want }, timeout)
	res.Elapsed = Duration(time.Since(drainStart))
	r.window.Store(false)
	res.Sent = want
	res.Consumed = min(r.consumedIn.Load(), want)
	res.Missing = want - res.Consumed
	return nil
}

func (r *run) publishers(ctx context.Context) ([]Publisher, error) {
	pubs := make([]Publisher, 0, r.w.Producers)
	for i := range r.w.Producers {
		p, err := r.t.NewPublisher(ctx, r.topic, i)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("publisher %d: %w", i, err), closeAll(pubs))
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

func closeAll(pubs []Publisher) error {
	var errs []error
	for _, p := range pubs {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitFor polls cond every 10 ms until it holds, ctx ends or timeout
// passes: a condition over atomic counters, so polling is the simplest
// correct wait.
func (r *run) waitFor(ctx context.Context, cond func() bool, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			r.opts.Logger.Warn("bench: consumers did not catch up", "timeout", timeout)
			return
		case <-tick.C:
		}
	}
}

// deliver is the consumers' callback: it counts the message and, if it
// was sent in the measured interval, records its end-to-end latency from
// the send timestamp in the body's first 8 bytes.
func (r *run) deliver(body []byte) {
	now := time.Now().UnixNano()
	r.consumedAll.Add(1)
	if r.window.Load() {
		r.consumedIn.Add(1)
	}
	if len(body) < minMessageSize {
		r.errs.add("consumed short body")
		return
	}
	sent := int64(binary.BigEndian.Uint64(body))
	if sent >= r.start.Load() && sent < r.end.Load() {
		r.e2e.Record(time.Duration(now - sent))
		r.e2eSeen.Add(1)
	}
}

// progress prints a line every ReportEvery until the returned func is
// called (which waits for the printer to stop).
func (r *run) progress(phase string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(r.opts.ReportEvery)
		defer tick.Stop()
		last := time.Now()
		lastSent, lastConsumed := r.sentAll.Load(), r.consumedAll.Load()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				sent, consumed := r.sentAll.Load(), r.consumedAll.Load()
				secs := now.Sub(last).Seconds()
				p := phase
				if r.window.Load() {
					p = "measure"
				} else if now.UnixNano() >= r.end.Load() {
					p = "catchup"
				}
				pub, e2e := r.pub.Snapshot(), r.e2e.Snapshot()
				fmt.Fprintf(r.opts.Progress, "%s %-7s sent %8.0f msgs/s  consumed %8.0f msgs/s  pub p50 %s p99 %s ms  e2e p50 %s p99 %s ms  errors %s\n",
					r.t.Name(), p, float64(sent-lastSent)/secs, float64(consumed-lastConsumed)/secs,
					ms(pub.P50Micros), ms(pub.P99Micros), ms(e2e.P50Micros), ms(e2e.P99Micros), r.errs.String())
				last, lastSent, lastConsumed = now, sent, consumed
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// loadAverage reads /proc/loadavg's first three fields ("" elsewhere):
// the machine is shared, so every report says how busy it was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
