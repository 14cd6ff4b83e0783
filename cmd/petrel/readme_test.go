package main

import (
	"os"
	"strings"
	"testing"

	"github.com/petrel-mq/petrel/internal/config"
)

// TestREADMEConfigTable keeps the README's key table in step with the keys
// the broker reads.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := config.MarkdownTable(config.Keys()); !strings.Contains(string(b), want) {
		t.Fatalf("README.md's configuration table is out of date; replace it with:\n%s", want)
	}
}
