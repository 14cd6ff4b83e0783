package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRunScript runs bench/run.sh, issue 7's side-by-side script, for two
// short rows against a real nats-server (installed by the script from
// the module proxy, as it does for a person), with a scripted vCPU probe:
// row 1's first try sees the placement change and is run again, row 4
// sees it change in both of its tries and keeps the last. The table must
// name each row with the probes and tries it kept, list the tries it
// repeated apart from the verdict, and the repeats must be logged. It
// asserts what the script does, not how fast either side is.
func TestRunScript(t *testing.T) {
	scriptNeeds(t, "bench/run.sh", "installs nats-server and builds both benchmark tools", "bash", "jq", "dd")
	dir := t.TempDir()
	// The probe's answers, in the order run.sh asks: before, between and
	// after the two sides of each try.
	answers := []string{"50", "400", "50", "50", "55", "52", "60", "300", "60", "61", "62", "400"}
	queue := filepath.Join(dir, "answers")
	if err := os.WriteFile(queue, []byte(strings.Join(answers, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "probe.sh")
	script := fmt.Sprintf("#!/bin/sh\nhead -n 1 %[1]q\nsed -i 1d %[1]q\n", queue)
	if err := os.WriteFile(probe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "../../bench/run.sh")
	cmd.Env = append(os.Environ(), "ROWS=row1-sync16 row4-e2e-rate", "DURATION=300ms", "WARMUP=100ms",
		"PLACEMENT_TRIES=2", "CPU_PROBE="+probe, "TMPDIR="+dir, "NATS_PORT=14899")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/run.sh: %v\n%s", err, out)
	}
	text := string(out)
	for _, re := range []string{
		`row1-sync16: the vCPU placement changed during the row \(50/400/50 ns\); running both sides again`,
		`row4-e2e-rate: the vCPU placement changed in each of 2 tries \(last: 61/62/400 ns\); keeping the last`,
		`(?m)^row1-sync16 +sent msgs/s +[0-9]+ +[0-9]+ +[0-9.]+ (met|missed) +50/55/52 \(2\) `,
		`(?m)^row4-e2e-rate +e2e p99 +[0-9.]+ ms +[0-9.]+ ms +[0-9.]+ (met|missed) +61/62/400 \(2\) apart `,
		`(?m)^GOMAXPROCS: petrel-bench with the embedded broker [0-9]+; nats-bench [0-9]+ \+ nats-server [0-9]+`,
		`(?m)^(every bar of the rows run was met|bars missed:.*)$`,
		// The tries repeated are listed after the verdict, not counted in it.
		`(?m)^tries run again because the vCPU placement changed during them \(not counted above\):\n` +
			`row1-sync16 try 1 +sent msgs/s +[0-9]+ +[0-9]+ +[0-9.]+ (met|missed) +50/400/50 \(1\) apart .*\n` +
			`row4-e2e-rate try 1 +e2e p50 .* 60/300/60 \(1\) apart .*\n` +
			`row4-e2e-rate try 1 +e2e p99 .* 60/300/60 \(1\) apart `,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s:\n%s", re, text)
		}
	}
	if left, _ := os.ReadFile(queue); len(left) != 0 {
		t.Errorf("the probe was asked %d times, want %d; left: %q", len(answers)-strings.Count(string(left), "\n"), len(answers), left)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "petrel-run-*")); len(entries) > 0 {
		t.Errorf("bench/run.sh left %v behind", entries)
	}
}
