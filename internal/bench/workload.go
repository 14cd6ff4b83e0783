// Package bench is the broker-neutral half of petrel's whole-system
// benchmark (cmd/petrel-bench, and the NATS JetStream peer in bench/nats):
// workloads (YAML files and flags), the load generator that drives a
// Target, latency histograms (HDR) and the report (a table or JSON).
//
// Both sides of a comparison run the same code here and differ only in
// their Target, so a ratio between them measures the brokers and their
// clients, not two benchmark tools. It imports nothing of petrel's, which
// keeps the NATS module free of the broker.
package bench

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Send modes.
const (
	// ModeSync waits for each send's acknowledgement before the next.
	ModeSync = "sync"
	// ModeAsync pipelines sends, at most AsyncWindow unacknowledged per
	// producer.
	ModeAsync = "async"
	// ModeOneway sends without asking for an acknowledgement.
	ModeOneway = "oneway"
	// ModeBatch sends BatchSize messages per request, synchronously.
	ModeBatch = "batch"
)

// Flush modes of the broker (RocketMQ's flushDiskType).
const (
	FlushAsync = "ASYNC_FLUSH"
	FlushSync  = "SYNC_FLUSH"
)

// minMessageSize is the room for the send timestamp every body carries
// (8 bytes, big-endian Unix nanoseconds) for end-to-end latency.
const minMessageSize = 8

// ErrInvalidWorkload is wrapped by every validation error.
var ErrInvalidWorkload = errors.New("invalid workload")

// Duration is a time.Duration that reads "10s" or "1m30s" from YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes the duration as a string (JSON reports).
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string (JSON reports read back).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Workload is one benchmark case. Field names follow the OpenMessaging
// Benchmark's workload files where they have an equivalent.
type Workload struct {
	// Name identifies the workload in reports (the file name by default).
	Name string `yaml:"name" json:"name"`
	// Description says what the workload measures.
	Description string `yaml:"description" json:"description,omitempty"`
	// Topic is the topic's name prefix; each run appends a suffix so runs
	// against a long-lived server never read each other's messages.
	Topic string `yaml:"topic" json:"topic"`
	// Queues is the topic's queue (partition) count.
	Queues int `yaml:"queues" json:"queues"`
	// Producers is the number of producer goroutines.
	Producers int `yaml:"producers" json:"producers"`
	// Consumers is the number of consumers in one group; zero measures
	// publishing alone.
	Consumers int `yaml:"consumers" json:"consumers"`
	// MessageSize is the body size in bytes (at least 8).
	MessageSize int `yaml:"messageSize" json:"messageSize"`
	// Rate is the target send rate over all producers in messages per
	// second; zero sends as fast as acknowledgements allow.
	Rate int `yaml:"rate" json:"rate"`
	// Duration is how long the measurement lasts, after the warm-up.
	Duration Duration `yaml:"duration" json:"duration"`
	// Warmup runs the same load unmeasured first (JIT-free Go still has
	// cold connections, routes, page cache and GC pacing to settle).
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// SendMode is sync, async, oneway or batch.
	SendMode string `yaml:"sendMode" json:"sendMode"`
	// AsyncWindow bounds unacknowledged async sends per producer.
	AsyncWindow int `yaml:"asyncWindow" json:"asyncWindow,omitempty"`
	// BatchSize is the messages per batch request.
	BatchSize int `yaml:"batchSize" json:"batchSize,omitempty"`
	// FlushMode is the broker's flushDiskType when the tool starts it
	// (petrel) or the server configuration run.sh chose (NATS).
	FlushMode string `yaml:"flushMode" json:"flushMode"`
	// Backlog, when positive, turns the workload into a drain test: the
	// producers first store Backlog messages with no consumer running,
	// then the consumers start and the time to consume all of them is
	// measured (Rate, Duration and Warmup are not used).
	Backlog int `yaml:"backlog" json:"backlog,omitempty"`
}

// DefaultWorkload is what flags start from when no file is named: one
// producer and one consumer of 1 KiB messages, async, for 10 s.
func DefaultWorkload() Workload {
	return Workload{
		Name:        "default",
		Topic:       "PetrelBench",
		Queues:      8,
		Producers:   1,
		Consumers:   1,
		MessageSize: 1024,
		Duration:    Duration(10 * time.Second),
		Warmup:      Duration(2 * time.Second),
		SendMode:    ModeAsync,
		AsyncWindow: 1000,
		BatchSize:   32,
		FlushMode:   FlushAsync,
	}
}

// ParseWorkload reads a YAML workload over the defaults: a field the file
// leaves out keeps DefaultWorkload's value. Unknown keys are errors, so a
// misspelt field cannot silently run the default.
func ParseWorkload(data []byte) (Workload, error) {
	w := DefaultWorkload()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil && !errors.Is(err, io.EOF) /* an empty file: all defaults */ {
		return Workload{}, fmt.Errorf("%w: %w", ErrInvalidWorkload, err)
	}
	if err := w.Validate(); err != nil {
		return Workload{}, err
	}
	return w, nil
}

// LoadWorkload reads a workload by name from dir (dir/name.yaml) or, if
// ref ends in .yaml or .yml or contains a path separator, from that path.
// The name defaults to the file's base name.
func LoadWorkload(dir, ref string) (Workload, error) {
	path := ref
	if !strings.HasSuffix(ref, ".yaml") && !strings.HasSuffix(ref, ".yml") && !strings.ContainsRune(ref, os.PathSeparator) {
		path = filepath.Join(dir, ref+".yaml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Workload{}, fmt.Errorf("workload %s: %w", ref, err)
	}
	w, err := ParseWorkload(data)
	if err != nil {
		return Workload{}, fmt.Errorf("workload %s: %w", path, err)
	}
	if w.Name == "default" || w.Name == "" {
		w.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	}
	return w, nil
}

// Validate checks that the workload can run.
func (w *Workload) Validate() error {
	var errs []string
	if w.Topic == "" {
		errs = append(errs, "topic is empty")
	}
	if w.Queues < 1 {
		errs = append(errs, "queues must be at least 1")
	}
	if w.Producers < 1 {
		errs = append(errs, "producers must be at least 1")
	}
	if w.Consumers < 0 {
		errs = append(errs, "consumers must not be negative")
	}
	if w.MessageSize < minMessageSize {
		errs = append(errs, fmt.Sprintf("messageSize must be at least %d (the send timestamp)", minMessageSize))
	}
	if w.Rate < 0 {
		errs = append(errs, "rate must not be negative")
	}
	if w.Backlog < 0 {
		errs = append(errs, "backlog must not be negative")
	}
	if w.Backlog > 0 && w.Consumers < 1 {
		errs = append(errs, "a backlog (drain) workload needs consumers")
	}
	if w.Backlog == 0 && w.Duration <= 0 {
		errs = append(errs, "duration must be positive")
	}
	if w.Warmup < 0 {
		errs = append(errs, "warmup must not be negative")
	}
	switch w.SendMode {
	case ModeSync, ModeOneway:
	case ModeAsync:
		if w.AsyncWindow < 1 {
			errs = append(errs, "asyncWindow must be at least 1")
		}
	case ModeBatch:
		if w.BatchSize < 1 {
			errs = append(errs, "batchSize must be at least 1")
		}
	default:
		errs = append(errs, fmt.Sprintf("sendMode %q is not sync, async, oneway or batch", w.SendMode))
	}
	switch w.FlushMode {
	case FlushAsync, FlushSync:
	default:
		errs = append(errs, fmt.Sprintf("flushMode %q is not ASYNC_FLUSH or SYNC_FLUSH", w.FlushMode))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidWorkload, strings.Join(errs, "; "))
	}
	return nil
}

// Flags binds the workload flags shared by both tools to fs. After
// fs.Parse, Apply loads --workload (if any) and lays the flags the user
// set over it, so a flag always wins over the file.
type Flags struct {
	fs          *flag.FlagSet
	workload    string
	workloadDir string
	w           Workload
}

// RegisterFlags adds the workload flags to fs; defaultDir is where
// --workload names are looked up.
func RegisterFlags(fs *flag.FlagSet, defaultDir string) *Flags {
	f := &Flags{fs: fs, w: DefaultWorkload()}
	fs.StringVar(&f.workload, "workload", "", "workload name (in --workloads) or YAML file; flags override its fields")
	fs.StringVar(&f.workloadDir, "workloads", defaultDir, "directory of named workloads")
	fs.StringVar(&f.w.Topic, "topic", f.w.Topic, "topic name prefix (a per-run suffix is added)")
	fs.IntVar(&f.w.Queues, "queues", f.w.Queues, "queues (partitions) of the topic")
	fs.IntVar(&f.w.Producers, "producers", f.w.Producers, "producer goroutines")
	fs.IntVar(&f.w.Consumers, "consumers", f.w.Consumers, "consumers in the group (0: publish only)")
	fs.IntVar(&f.w.MessageSize, "size", f.w.MessageSize, "message body size in bytes (>= 8)")
	fs.IntVar(&f.w.Rate, "rate", f.w.Rate, "target msgs/s over all producers (0: as fast as possible)")
	fs.DurationVar((*time.Duration)(&f.w.Duration), "duration", time.Duration(f.w.Duration), "measured duration")
	fs.DurationVar((*time.Duration)(&f.w.Warmup), "warmup", time.Duration(f.w.Warmup), "unmeasured warm-up before it")
	fs.StringVar(&f.w.SendMode, "mode", f.w.SendMode, "send mode: sync, async, oneway or batch")
	fs.IntVar(&f.w.AsyncWindow, "window", f.w.AsyncWindow, "unacknowledged async sends per producer")
	fs.IntVar(&f.w.BatchSize, "batch", f.w.BatchSize, "messages per batch (mode batch)")
	fs.StringVar(&f.w.FlushMode, "flush", f.w.FlushMode, "broker flushDiskType: ASYNC_FLUSH or SYNC_FLUSH")
	fs.IntVar(&f.w.Backlog, "backlog", f.w.Backlog, "drain test: store this many messages, then time their consumption")
	return f
}

// flagFields maps flag names to the workload field each sets, so Apply
// can copy exactly the flags given on the command line over a file.
var flagFields = map[string]func(dst, src *Workload){
	"topic":     func(d, s *Workload) { d.Topic = s.Topic },
	"queues":    func(d, s *Workload) { d.Queues = s.Queues },
	"producers": func(d, s *Workload) { d.Producers = s.Producers },
	"consumers": func(d, s *Workload) { d.Consumers = s.Consumers },
	"size":      func(d, s *Workload) { d.MessageSize = s.MessageSize },
	"rate":      func(d, s *Workload) { d.Rate = s.Rate },
	"duration":  func(d, s *Workload) { d.Duration = s.Duration },
	"warmup":    func(d, s *Workload) { d.Warmup = s.Warmup },
	"mode":      func(d, s *Workload) { d.SendMode = s.SendMode },
	"window":    func(d, s *Workload) { d.AsyncWindow = s.AsyncWindow },
	"batch":     func(d, s *Workload) { d.BatchSize = s.BatchSize },
	"flush":     func(d, s *Workload) { d.FlushMode = s.FlushMode },
	"backlog":   func(d, s *Workload) { d.Backlog = s.Backlog },
}

// Workload returns the workload to run: the file named by --workload (or
// the defaults) with every flag set on the command line applied over it,
// validated.
func (f *Flags) Workload() (Workload, error) {
	w := DefaultWorkload()
	if f.workload != "" {
		var err error
		if w, err = LoadWorkload(f.workloadDir, f.workload); err != nil {
			return Workload{}, err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		if set, ok := flagFields[fl.Name]; ok {
			set(&w, &f.w)
		}
	})
	if err := w.Validate(); err != nil {
		return Workload{}, err
	}
	return w, nil
}
