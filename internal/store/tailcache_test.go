package store

import (
	"bytes"
	"testing"
)

// pattern returns n bytes that differ by offset, so a read from the wrong
// place shows.
func pattern(phys int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((phys+int64(i))*7 + 1)
	}
	return b
}

func TestTailCacheReadsWhatItHolds(t *testing.T) {
	c := newTailCache(100)
	c.reset(1000)
	if c.read(make([]byte, 1), 1000) {
		t.Fatal("an empty cache claimed a byte")
	}
	c.put(pattern(1000, 60), 1000)
	c.put(pattern(1060, 30), 1060)
	got := make([]byte, 90)
	if !c.read(got, 1000) || !bytes.Equal(got, pattern(1000, 90)) {
		t.Fatalf("read [1000,1090) = %v, %x", c.read(got, 1000), got)
	}
	if c.read(make([]byte, 2), 1089) {
		t.Fatal("a read past the cached end succeeded")
	}
	if c.read(make([]byte, 1), 999) {
		t.Fatal("a read before the cached start succeeded")
	}
}

func TestTailCacheWrapsAndForgetsTheOldest(t *testing.T) {
	c := newTailCache(100)
	for phys := int64(0); phys < 1000; phys += 37 { // puts across the ring's edge
		c.put(pattern(phys, 37), phys)
	}
	end := int64(1036)
	got := make([]byte, 100)
	if !c.read(got, end-100) || !bytes.Equal(got, pattern(end-100, 100)) {
		t.Fatalf("the last 100 bytes: %x", got)
	}
	if c.read(make([]byte, 1), end-101) {
		t.Fatal("a byte overwritten by the ring was still readable")
	}
	for _, at := range []int64{end - 100, end - 64, end - 1} { // reads that wrap or not
		b := make([]byte, end-at)
		if !c.read(b, at) || !bytes.Equal(b, pattern(at, len(b))) {
			t.Fatalf("read at %d: %x", at, b)
		}
	}
}

func TestTailCacheSkippedBytesReadAsZeros(t *testing.T) {
	c := newTailCache(100)
	c.put(pattern(0, 10), 0)
	c.put(pattern(40, 10), 40) // a segment's rest after its blank filler
	got := make([]byte, 50)
	want := append(append(pattern(0, 10), make([]byte, 30)...), pattern(40, 10)...)
	if !c.read(got, 0) || !bytes.Equal(got, want) {
		t.Fatalf("read %x, want %x", got, want)
	}

	c.put(pattern(500, 10), 500) // a gap larger than the ring starts afresh
	if c.read(make([]byte, 1), 499) {
		t.Fatal("bytes before a restart of the cache were readable")
	}
	got = make([]byte, 10)
	if !c.read(got, 500) || !bytes.Equal(got, pattern(500, 10)) {
		t.Fatalf("after the gap: %x", got)
	}

	c.put(pattern(0, 10), 0) // going backwards (a truncation) starts afresh too
	if c.read(make([]byte, 1), 500) {
		t.Fatal("bytes past a restart of the cache were readable")
	}
}

func TestTailCacheKeepsTheEndOfAnOversizedPut(t *testing.T) {
	c := newTailCache(100)
	c.put(pattern(0, 250), 0)
	got := make([]byte, 100)
	if !c.read(got, 150) || !bytes.Equal(got, pattern(150, 100)) {
		t.Fatalf("the last 100 bytes: %x", got)
	}
	if c.read(make([]byte, 1), 149) {
		t.Fatal("a byte that did not fit was readable")
	}
}
