package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/petrel-mq/petrel/internal/bench"
	"github.com/petrel-mq/petrel/internal/bench/cpuprobe"
)

func TestParseFlags(t *testing.T) {
	s, err := parseFlags([]string{"--workloads", "../../bench/workloads", "--workload", "row3-sync16-syncflush",
		"--producers", "4", "--json", "--data", "/x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w := s.workload
	if w.Name != "row3-sync16-syncflush" || w.Producers != 4 || w.SendMode != bench.ModeSync || w.FlushMode != bench.FlushSync ||
		!s.jsonOut || s.dataDir != "/x" || s.namesrv != "" {
		t.Fatalf("got %+v / %+v", s, w)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want error
		text string
	}{
		{[]string{"--help"}, flag.ErrHelp, ""},
		{[]string{"--size", "2"}, bench.ErrInvalidWorkload, "messageSize"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--namesrv", "127.0.0.1:9876", "--flush", "SYNC_FLUSH"}, nil, "embedded petrel only"},
		{[]string{"--workloads", "../../bench/workloads", "--workload", "no-such-row"}, nil, "no-such-row"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%q: err = %v, want %v containing %q", tc.args, err, tc.want, tc.text)
		}
	}
}

// runJSON runs the command against an embedded petrel (small commit-log
// files) and decodes its JSON report.
func runJSON(t *testing.T, args ...string) bench.Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"--json", "--commitlog-file-size", "67108864", "--report-every", "200ms", "--drain-timeout", "10s"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, stderr.String())
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	return res
}

// TestSmoke runs the tool in-process for a second against the embedded
// petrel with a consumer: messages are sent and consumed, every sent
// message is seen, and both latency distributions are filled.
func TestSmoke(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	procs := runtime.GOMAXPROCS(0)
	res := runJSON(t, "--duration", "1s", "--warmup", "200ms", "--producers", "2", "--consumers", "1", "--mode", "async", "--window", "64", "--size", "256")
	if want := embeddedProcs(procs, os.Getenv("GOMAXPROCS")); res.GoMaxProcs != want {
		t.Errorf("ran with GOMAXPROCS %d, want %d", res.GoMaxProcs, want)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS %d after the run, was %d", got, procs)
	}
	if res.Target != "petrel" || res.Sent == 0 || res.Consumed == 0 || res.SentRate <= 0 || res.ConsumeRate <= 0 {
		t.Fatalf("nothing measured: %+v", res)
	}
	if res.Missing != 0 || len(res.Errors) != 0 {
		t.Fatalf("missing %d, errors %v", res.Missing, res.Errors)
	}
	for name, l := range map[string]bench.Latency{"publish": res.Publish, "end-to-end": res.EndToEnd} {
		if l.Count == 0 || l.P50Micros <= 0 || l.P99Micros < l.P50Micros || l.P999Micro < l.P99Micros || l.MaxMicros < l.P999Micro {
			t.Errorf("%s latency: %+v", name, l)
		}
	}
	if res.Publish.Count != res.Sent || res.EndToEnd.Count != res.Sent {
		t.Errorf("publish count %d, end-to-end count %d, sent %d", res.Publish.Count, res.EndToEnd.Count, res.Sent)
	}
}

// TestEmbeddedProcs: an embedded run gets twice the default Ps, unless
// GOMAXPROCS is set.
func TestEmbeddedProcs(t *testing.T) {
	for _, tc := range []struct {
		def  int
		env  string
		want int
	}{{2, "", 4}, {8, "", 16}, {1, "", 2}, {2, "2", 2}, {4, "1", 4}} {
		if got := embeddedProcs(tc.def, tc.env); got != tc.want {
			t.Errorf("embeddedProcs(%d, %q) = %d, want %d", tc.def, tc.env, got, tc.want)
		}
	}
}

// TestSendModes runs each remaining send mode briefly, publish only, and
// a small drain test.
func TestSendModes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, args := range [][]string{
		{"--mode", "sync", "--producers", "2"},
		{"--mode", "oneway", "--rate", "2000"},
		{"--mode", "batch", "--batch", "8", "--flush", "SYNC_FLUSH"},
	} {
		res := runJSON(t, append([]string{"--duration", "300ms", "--warmup", "0s", "--consumers", "0", "--size", "128"}, args...)...)
		if res.Sent == 0 || res.Publish.Count != res.Sent || len(res.Errors) != 0 {
			t.Errorf("%q: %+v", args, res)
		}
	}
	res := runJSON(t, "--backlog", "2000", "--producers", "2", "--consumers", "2", "--size", "128")
	if res.Sent != 2000 || res.Consumed != 2000 || res.Missing != 0 || res.ConsumeRate <= 0 || res.FillRate <= 0 {
		t.Errorf("drain: %+v", res)
	}
}

// The profiles and the trace asked for are written, and nothing runs on
// after the returned func.
func TestStartProfiles(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	cpu, mem, tr := dir+"/cpu", dir+"/mem", dir+"/trace"
	stop, err := startProfiles(cpu, mem, tr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		_ = strings.Repeat("x", i) // something to record
	}
	stop(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, p := range []string{cpu, mem, tr} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v, %v", p, fi, err)
		}
	}
	if _, err := startProfiles("", "", dir+"/no/such/dir/trace"); err == nil {
		t.Fatal("a trace file that cannot be created was accepted")
	}
}

// --cpu-probe measures and exits: no broker starts, no workload runs.
func TestCPUProbeFlag(t *testing.T) {
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"--cpu-probe", "--json"}, &stdout, io.Discard)
	if errors.Is(err, cpuprobe.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var r cpuprobe.Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%v: %q", err, stdout.String())
	}
	if r.RoundTripNs <= 0 || r.CPUs[0] == r.CPUs[1] {
		t.Fatalf("got %+v from %q", r, stdout.String())
	}
}
