package gcpace

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"go.uber.org/goleak"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name           string
		live, headroom int64
		base, want     int
	}{
		{"small heap gets the headroom", 8 * mib, 64 * mib, 100, 800},
		{"rounded up", 6 * mib, 64 * mib, 100, 1067},
		{"large heap keeps the base", 512 * mib, 64 * mib, 100, 100},
		{"headroom equal to the base's growth", 64 * mib, 64 * mib, 100, 100},
		{"a higher base wins", 64 * mib, 64 * mib, 300, 300},
		{"before the first collection", 0, 64 * mib, 100, 1600},
		{"below the runtime's minimum heap", 3 * mib, 64 * mib, 100, 1600},
		{"capped", 1, 1 << 40, 100, maxPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.headroom, tc.base); got != tc.want {
				t.Fatalf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.headroom, tc.base, got, tc.want)
			}
		})
	}
}

// gcPercent reads GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestPacerSetsAndRestoresGOGC: with a headroom far above this test
// binary's live heap, the pacer raises GOGC at once and keeps it raised
// after a collection; Close puts back the value it found and leaves no
// goroutine behind.
func TestPacerSetsAndRestoresGOGC(t *testing.T) {
	defer goleak.VerifyNone(t)
	unsetenv(t, "GOGC") // as in a default run
	before := gcPercent()
	p := Start(256<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if p == nil {
		t.Fatal("Start returned nil with a positive headroom and no GOGC")
	}
	if got := gcPercent(); got <= before {
		t.Fatalf("GOGC after Start = %d, want above %d", got, before)
	}
	runtime.GC()
	if got := p.adjust(gcPercent()); got <= before || got != gcPercent() {
		t.Fatalf("after a collection the pacer set GOGC %d (in effect %d), want above %d", got, gcPercent(), before)
	}
	p.Close()
	if got := gcPercent(); got != before {
		t.Fatalf("GOGC after Close = %d, want %d restored", got, before)
	}
}

func TestPacerStandsAsideForGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	if p := Start(64<<20, slog.New(slog.NewTextHandler(io.Discard, nil))); p != nil {
		p.Close()
		t.Fatal("Start paced the collector although GOGC is set in the environment")
	}
	var p *Pacer
	p.Close() // a nil Pacer closes
}

func TestPacerOffWithoutHeadroom(t *testing.T) {
	unsetenv(t, "GOGC")
	before := gcPercent()
	if p := Start(0, slog.New(slog.NewTextHandler(io.Discard, nil))); p != nil {
		p.Close()
		t.Fatal("Start paced the collector with no headroom")
	}
	if got := gcPercent(); got != before {
		t.Fatalf("GOGC = %d, want %d untouched", got, before)
	}
}

// unsetenv removes key for the test; t.Setenv restores it afterwards.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

func TestPacerStandsAsideWhenCollectorOff(t *testing.T) {
	unsetenv(t, "GOGC")
	before := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(before)
	if p := Start(64<<20, slog.New(slog.NewTextHandler(io.Discard, nil))); p != nil {
		p.Close()
		t.Fatal("Start paced a collector that was turned off")
	}
	if got := gcPercent(); got != -1 {
		t.Fatalf("GOGC = %d, want the collector still off", got)
	}
}
