// Command petrel-bench measures a whole petrel system (name server,
// broker and petrel's Go client) the way the OpenMessaging Benchmark does:
// producers at a target rate or as fast as possible, consumers in one
// group, publish and end-to-end latency percentiles from HDR histograms.
//
// It is a separate command, not `petrel bench`, so the broker binary does
// not carry the benchmark's dependencies (hdrhistogram-go, yaml). Without
// --namesrv it starts an embedded petrel (name server and broker, as
// `petrel serve` does) on loopback with its data in a temporary
// directory, removed at exit. bench/run.sh runs it side by side with the
// NATS JetStream peer (bench/nats).
//
//	petrel-bench --workload sync-16 --duration 10s
//	petrel-bench --namesrv 127.0.0.1:9876 --producers 4 --mode async --window 1000 --json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/petrel-mq/petrel/internal/bench"
	"github.com/petrel-mq/petrel/internal/bench/cpuprobe"
	"github.com/petrel-mq/petrel/internal/gcpace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "petrel-bench:", err)
		}
		os.Exit(2)
	}
}

// settings are the command's own flags, beside the workload's.
type settings struct {
	namesrv     string
	dataDir     string
	jsonOut     bool
	reportEvery time.Duration
	drain       time.Duration
	segmentSize int64
	logLevel    slog.Level
	cpuProfile  string
	memProfile  string
	tracePath   string
	gcHeadroom  int64 // MiB
	cpuProbe    bool
	workload    bench.Workload
}

// parseFlags reads args into settings; the workload has every flag set
// on the command line applied over the --workload file.
func parseFlags(args []string, stderr io.Writer) (*settings, error) {
	fs := flag.NewFlagSet("petrel-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := &settings{}
	fs.StringVar(&s.namesrv, "namesrv", "", "name servers host:port;host:port (empty: start an embedded petrel)")
	fs.StringVar(&s.dataDir, "data", "", "embedded petrel's data directory (empty: a temporary one, removed at exit)")
	fs.BoolVar(&s.jsonOut, "json", false, "write the final report as JSON to stdout")
	fs.DurationVar(&s.reportEvery, "report-every", 5*time.Second, "progress interval (to stderr)")
	fs.DurationVar(&s.drain, "drain-timeout", 30*time.Second, "how long consumers may take to catch up after the producers stop")
	fs.Int64Var(&s.segmentSize, "commitlog-file-size", 0, "embedded petrel's commit-log file size in bytes (0: 1 GiB, the default)")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (embedded broker included) to this file")
	fs.StringVar(&s.memProfile, "memprofile", "", "write an allocation profile to this file at the end")
	fs.StringVar(&s.tracePath, "trace", "", "write an execution trace of the whole run to this file (go tool trace: scheduler latency, goroutine hand-offs)")
	fs.Int64Var(&s.gcHeadroom, "gc-headroom-mb", gcpace.DefaultHeadroomMiB,
		"embedded petrel: the garbage collector's heap headroom in MiB, as petrel serve's flag (0: Go's default pacing)")
	fs.BoolVar(&s.cpuProbe, "cpu-probe", false,
		"only measure how far apart the first two CPUs are (a cache line's round trip; on a VM, the host's placement of the vCPUs), print it and exit")
	fs.TextVar(&s.logLevel, "log-level", slog.LevelWarn, "log level: debug, info, warn, error")
	wf := bench.RegisterFlags(fs, "bench/workloads")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	w, err := wf.Workload()
	if err != nil {
		return nil, err
	}
	if s.namesrv != "" && fs.Lookup("flush") != nil && flagGiven(fs, "flush") {
		return nil, errors.New("--flush applies to the embedded petrel only; set flushDiskType on the broker given by --namesrv")
	}
	s.workload = w
	return s, nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// run is the command without the process around it, so tests can run it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if s.cpuProbe {
		return probeCPUs(s.jsonOut, stdout)
	}
	// The logger and the progress reports write from different
	// goroutines; stderr need not be safe for that (a test's buffer is not).
	stderr = &lockedWriter{w: stderr}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
	stopProfiles, err := startProfiles(s.cpuProfile, s.memProfile, s.tracePath)
	if err != nil {
		return err
	}
	defer stopProfiles(log)
	nameServers := strings.Split(s.namesrv, ";")
	if s.namesrv == "" {
		if n := embeddedProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n != runtime.GOMAXPROCS(0) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
		}
		// The embedded broker is petrel serve in this process: it paces the
		// collector as petrel serve does.
		defer gcpace.Start(s.gcHeadroom<<20, log).Close()
		e, err := startEmbedded(embeddedOptions{Dir: s.dataDir, FlushDiskType: s.workload.FlushMode,
			CommitLogFileSize: s.segmentSize, Logger: log})
		if err != nil {
			return err
		}
		defer func() {
			if cerr := e.Close(); cerr != nil {
				log.Error("petrel-bench: stop embedded petrel", "err", cerr)
			}
		}()
		nameServers = []string{e.NamesrvAddr}
	}
	t := &petrelTarget{nameServers: nameServers, log: log}
	res, err := bench.Run(ctx, t, s.workload, bench.Options{Logger: log, Progress: stderr,
		ReportEvery: s.reportEvery, DrainTimeout: s.drain})
	if err != nil {
		return fmt.Errorf("run %s: %w", s.workload.Name, err)
	}
	if s.namesrv != "" {
		res.FlushNote = "external broker: its own flushDiskType"
	}
	if s.jsonOut {
		return res.WriteJSON(stdout)
	}
	return res.WriteTable(stdout)
}

// probeCPUs prints a cpuprobe.Probe, for bench/run.sh and bench/ab.sh to
// tell the host's vCPU placements apart between runs. The probe's round
// trips advance only while both of its threads run at once: on an idle
// machine that is tens of milliseconds, on a loaded one (tests running in
// parallel) it can be seconds, hence the long timeout.
func probeCPUs(jsonOut bool, stdout io.Writer) error {
	r, err := cpuprobe.Probe(time.Minute)
	if err != nil {
		return err
	}
	if jsonOut {
		return json.NewEncoder(stdout).Encode(r)
	}
	_, err = fmt.Fprintf(stdout, "cache-line round trip between CPUs %d and %d: %d ns\n", r.CPUs[0], r.CPUs[1], r.RoundTripNs)
	return err
}

// embeddedProcs is the GOMAXPROCS of a run with the embedded broker,
// given the default and the GOMAXPROCS variable: twice the default, unless
// the variable says otherwise.
//
// The process then holds two programs, the broker and the load
// generator, which the peer runs as two processes with a full set of Ps
// each (nats-server and nats-bench: 2 + 2 on 2 CPUs); twice the default
// gives petrel-bench as many. With one set shared between them, a
// scheduler trace of row 1 showed the kernel stacking the threads of both
// Ps on one vCPU, time-sliced at its 4 ms tick, while the other vCPU sat
// idle for up to 15 ms (a loopback write wakes the reader onto the
// writer's CPU); every goroutine of the descheduled P, a lock holder
// included, waits out the slice. Measured on 2 vCPUs in ten interleaved
// pairs each (docs/benchmarks.md): against 3 Ps, 4 cut row 4's
// end-to-end p99 at a fixed rate by 16% (better in 9 of 10) and row 3's
// rate rose 5%; rows 1 and 2 moved within the noise; row 5's drain fell
// by a fifth, still about three times the peer's; 6 Ps were no better
// than 4.
func embeddedProcs(def int, env string) int {
	if env != "" {
		return def // chosen by whoever runs the tool
	}
	return 2 * def
}

// startProfiles starts a CPU profile and an execution trace and arranges
// an allocation profile, as asked; the returned func ends them all. The
// issue's rule: when petrel falls short of a bar, profile before changing
// anything. The trace is for latency: where runnable goroutines wait.
func startProfiles(cpuPath, memPath, tracePath string) (func(*slog.Logger), error) {
	var cpu, tr *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		cpu = f
	}
	if tracePath != "" {
		f, err := os.Create(tracePath)
		if err == nil {
			if err = trace.Start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			return nil, fmt.Errorf("trace: %w", err)
		}
		tr = f
	}
	return func(log *slog.Logger) {
		if tr != nil {
			trace.Stop()
			if err := tr.Close(); err != nil {
				log.Error("petrel-bench: trace", "err", err)
			}
		}
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				log.Error("petrel-bench: cpu profile", "err", err)
			}
		}
		if memPath == "" {
			return
		}
		f, err := os.Create(memPath)
		if err == nil {
			err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
		}
		if err != nil {
			log.Error("petrel-bench: allocation profile", "err", err)
		}
	}, nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
