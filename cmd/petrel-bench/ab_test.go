package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestABScript runs bench/ab.sh for one short pair, the committed tree
// against the working tree, so the script that judges changes does not
// rot: both builds run, each run is a row, the summary counts the pair,
// and the temporary worktree is gone afterwards.
func TestABScript(t *testing.T) {
	scriptNeeds(t, "bench/ab.sh", "builds petrel-bench twice", "bash", "git", "jq")
	if err := exec.Command("git", "rev-parse", "--verify", "HEAD").Run(); err != nil {
		t.Skip("not in a git checkout")
	}
	cmd := exec.Command("bash", "../../bench/ab.sh", "HEAD", ".", "--workload", "row4-e2e-rate",
		"--rate", "500", "--duration", "300ms", "--warmup", "100ms")
	cmd.Env = append(os.Environ(), "PAIRS=1", "B_ENV=GOMAXPROCS=2", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/ab.sh: %v\n%s", err, out)
	}
	text := string(out)
	for _, side := range []string{"a", "b"} {
		// pair, side, then five numbers and the count of error kinds (0).
		if !regexp.MustCompile(`(?m)^1\t` + side + `(\t[0-9.]+){5}\t0\t([0-9]+|-)$`).MatchString(text) {
			t.Errorf("no run of side %s in the output:\n%s", side, text)
		}
	}
	for _, want := range []string{"1 pairs; A = HEAD , B = . GOMAXPROCS=2", "e2e_p99_us", "consumed/s"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	trees, err := exec.Command("git", "worktree", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(trees), "petrel-ab-") {
		t.Errorf("bench/ab.sh left its worktree behind:\n%s", trees)
	}
}

// scriptNeeds skips a script's test under -short (why says what it
// costs) and fails it when a tool the script runs is missing: CI
// installs them, so a missing one is a broken setup, not a skip.
func scriptNeeds(t *testing.T, script, why string, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s needs %s: %v", script, tool, err)
		}
	}
}
