package cpuprobe

import (
	"errors"
	"testing"
	"time"
)

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
