package bench

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWorkloadOverDefaults(t *testing.T) {
	w, err := ParseWorkload([]byte(`
name: mine
producers: 16
sendMode: sync
duration: 1m30s
flushMode: SYNC_FLUSH
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultWorkload()
	want.Name, want.Producers, want.SendMode = "mine", 16, ModeSync
	want.Duration, want.FlushMode = Duration(90*time.Second), FlushSync
	if w != want {
		t.Fatalf("got %+v\nwant %+v", w, want)
	}
}

func TestParseWorkloadEmptyIsDefault(t *testing.T) {
	w, err := ParseWorkload(nil)
	if err != nil {
		t.Fatal(err)
	}
	if w != DefaultWorkload() {
		t.Fatalf("got %+v", w)
	}
}

func TestParseWorkloadRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "producer: 3\n", "field producer not found"},
		{"bad duration", "duration: fast\n", "invalid duration"},
		{"bad mode", "sendMode: fire\n", `sendMode "fire"`},
		{"bad flush", "flushMode: SOMETIMES\n", `flushMode "SOMETIMES"`},
		{"tiny message", "messageSize: 4\n", "messageSize must be at least 8"},
		{"no producers", "producers: 0\n", "producers must be at least 1"},
		{"zero window", "asyncWindow: 0\n", "asyncWindow"},
		{"drain without consumers", "backlog: 10\nconsumers: 0\n", "needs consumers"},
		{"not a map", "- 1\n", "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(tc.yaml))
			if !errors.Is(err, ErrInvalidWorkload) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidWorkload containing %q", err, tc.want)
			}
		})
	}
}

// TestStandardWorkloads loads every file in bench/workloads by name: each
// must parse, and the five rows of issue 7 must be there.
func TestStandardWorkloads(t *testing.T) {
	dir := filepath.Join("..", "..", "bench", "workloads")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Workload{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		w, err := LoadWorkload(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if w.Name != name {
			t.Errorf("%s: name %q, want the file name", f, w.Name)
		}
		byName[name] = w
	}
	checks := map[string]func(Workload) bool{
		"row1-sync16":           func(w Workload) bool { return w.Producers == 16 && w.SendMode == ModeSync && w.FlushMode == FlushAsync },
		"row2-async":            func(w Workload) bool { return w.SendMode == ModeAsync && w.FlushMode == FlushAsync },
		"row3-sync16-syncflush": func(w Workload) bool { return w.Producers == 16 && w.SendMode == ModeSync && w.FlushMode == FlushSync },
		"row4-e2e-rate":         func(w Workload) bool { return w.Rate > 0 && w.Consumers > 0 },
		"row5-drain-1m":         func(w Workload) bool { return w.Backlog == 1_000_000 && w.Consumers > 0 },
	}
	for name, ok := range checks {
		w, found := byName[name]
		if !found {
			t.Errorf("workload %s missing", name)
		} else if !ok(w) {
			t.Errorf("workload %s does not describe its row: %+v", name, w)
		}
	}
}

func TestLoadWorkloadByPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.yml")
	if err := os.WriteFile(path, []byte("queues: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload("ignored", path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Queues != 3 || w.Name != "x" {
		t.Fatalf("got %+v", w)
	}
	if _, err := LoadWorkload(t.TempDir(), "absent"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing workload: err = %v", err)
	}
}

// TestFlagsOverrideFile: a flag given on the command line wins over the
// file; a flag not given leaves the file's value, even where the file
// differs from the flag's default.
func TestFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.yaml"), []byte("producers: 16\nsendMode: sync\nqueues: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs, dir)
	if err := fs.Parse([]string{"--workload", "w", "--producers", "2", "--duration", "3s", "--flush", "SYNC_FLUSH"}); err != nil {
		t.Fatal(err)
	}
	w, err := f.Workload()
	if err != nil {
		t.Fatal(err)
	}
	if w.Producers != 2 || w.SendMode != ModeSync || w.Queues != 4 || w.Duration != Duration(3*time.Second) || w.FlushMode != FlushSync || w.Name != "w" {
		t.Fatalf("got %+v", w)
	}
}

func TestFlagsValidate(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs, t.TempDir())
	if err := fs.Parse([]string{"--mode", "carrier-pigeon"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Workload(); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("err = %v", err)
	}
}
