package broker

import (
	"encoding/base64"
	"fmt"
)

// doneSet records which entries of a queue are finished when they finish
// out of order (timers by due time, transactions by producer decision):
// every offset below watermark, and those whose bit is set above it. The
// watermark advances a 64-entry word at a time, so the bitmap spans only
// the entries between the oldest unfinished one and the newest finished one.
type doneSet struct {
	watermark int64
	bits      []uint64
}

func (d *doneSet) has(off int64) bool {
	if off < d.watermark {
		return true
	}
	i := off - d.watermark
	return int(i/64) < len(d.bits) && d.bits[i/64]&(1<<(i%64)) != 0
}

// add marks off done and advances the watermark past full words.
func (d *doneSet) add(off int64) {
	i := off - d.watermark
	if i < 0 {
		return
	}
	for int(i/64) >= len(d.bits) {
		d.bits = append(d.bits, 0)
	}
	d.bits[i/64] |= 1 << (i % 64)
	shift := 0
	for shift < len(d.bits) && d.bits[shift] == ^uint64(0) {
		shift++
	}
	if shift > 0 {
		d.bits = append(d.bits[:0], d.bits[shift:]...)
		d.watermark += int64(shift) * 64
	}
}

// encode renders the bitmap for a progress file (little-endian words,
// base64).
func (d *doneSet) encode() string {
	b := make([]byte, 8*len(d.bits))
	for i, w := range d.bits {
		for k := range 8 {
			b[i*8+k] = byte(w >> (8 * k))
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeDoneSet is encode's inverse.
func decodeDoneSet(watermark int64, s string) (doneSet, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return doneSet{}, fmt.Errorf("bad done bitmap: %w", err)
	}
	if watermark < 0 {
		return doneSet{}, fmt.Errorf("bad watermark %d", watermark)
	}
	d := doneSet{watermark: watermark, bits: make([]uint64, (len(b)+7)/8)}
	for i, c := range b {
		d.bits[i/8] |= uint64(c) << (8 * (i % 8))
	}
	return d, nil
}
