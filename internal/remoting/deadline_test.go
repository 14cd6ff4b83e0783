package remoting

import (
	"testing"
	"time"
)

// A lazy deadline is at least the timeout away whenever an operation
// starts, at most timeout + timeout/8, and is set again only when the
// previous one has aged past the slack.
func TestLazyDeadline(t *testing.T) {
	const timeout = 80 * time.Second // slack 10 s
	var sets []time.Time
	set := func(d time.Time) error { sets = append(sets, d); return nil }
	var l lazyDeadline
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration // since t0
		wantSet bool
	}{
		{0, true},                   // first use: set
		{time.Second, false},        // fresh
		{10*time.Second - 1, false}, // still within the slack
		{10 * time.Second, true},    // aged: set again
		{15 * time.Second, false},   //
		{3 * time.Hour, true},       // after a long pause
		{3*time.Hour + time.Nanosecond, false},
	}
	var current time.Time
	for _, st := range steps {
		n := len(sets)
		now := t0.Add(st.at)
		l.refreshAt(now, timeout, set)
		if got := len(sets) > n; got != st.wantSet {
			t.Fatalf("at %v: set = %v, want %v", st.at, got, st.wantSet)
		}
		if st.wantSet {
			current = sets[len(sets)-1]
			if want := now.Add(timeout + timeout/8); !current.Equal(want) {
				t.Fatalf("at %v: deadline %v, want %v", st.at, current, want)
			}
		}
		if left := current.Sub(now); left < timeout || left > timeout+timeout/8 {
			t.Fatalf("at %v: deadline %v away, want within [%v, %v]", st.at, left, timeout, timeout+timeout/8)
		}
	}
}

func TestLazyDeadlineOff(t *testing.T) {
	var l lazyDeadline
	for _, timeout := range []time.Duration{0, -time.Second} {
		l.refresh(timeout, func(time.Time) error { t.Fatalf("timeout %v set a deadline", timeout); return nil })
	}
}
