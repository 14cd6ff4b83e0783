package cpuprobe

import (
	"errors"
	"testing"
	"time"
)

func TestApart(t *testing.T) {
	for _, c := range []struct {
		a, b time.Duration
		want bool
	}{
		{53, 55, false},
		{55, 53, false},
		{350, 380, false},
		{53, 360, true},
		{360, 53, true},
		{100, 200, false}, // twice is still one placement
		{100, 201, true},
		{0, 50, true}, // a failed probe never matches
	} {
		if got := Apart(c.a, c.b); got != c.want {
			t.Errorf("Apart(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestProbe(t *testing.T) {
	r, err := Probe(time.Minute) // generous: a loaded machine rarely runs both threads at once
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUs[0] >= r.CPUs[1] {
		t.Errorf("CPUs %v: want two distinct CPUs in ascending order", r.CPUs)
	}
	if r.RoundTrip <= 0 || r.RoundTripNs != r.RoundTrip.Nanoseconds() {
		t.Errorf("round trip %v (%d ns): want a positive duration and the same in ns", r.RoundTrip, r.RoundTripNs)
	}
}

func TestPingPongTimesOut(t *testing.T) {
	cpus, err := firstTwoCPUs()
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A probe far too long for its timeout must give up, not hang or
	// report a round trip it did not finish.
	if d, err := pingPong(cpus, 1, 1<<40, 50*time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("pingPong = %v, %v; want errTimeout", d, err)
	}
}
