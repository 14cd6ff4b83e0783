package store

import (
	"strings"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// TestTornRecordIsNotRecovered: a power loss can keep some pages of an
// unsynced record and lose others, which then read as the zeros the
// segment was prepared with. Whichever of its regions lands on a lost
// page (header, body, topic, properties), recovery must not return the
// record.
func TestTornRecordIsNotRecovered(t *testing.T) {
	const page = 4096
	probe := newMsg("Torn", 0, strings.Repeat("b", 300), "KEYS", "key-0", "UNIQ_KEY", strings.Repeat("u", 200))
	probe.PrepareEncode()
	size := probe.EncodedSize()
	rec := make([]byte, size)
	probe.Encode(rec, 0, 0, 0)
	r := message.Record(rec)
	bodyAt := len(rec) - 2 - len(probe.Properties) - len(probe.Topic) - 1 - len(r.Body())
	regions := map[string]int{ // offset in the record where the lost page begins
		"header":           40,
		"body":             bodyAt + 100,
		"topic":            len(rec) - 2 - len(probe.Properties) - 2,
		"properties start": len(rec) - len(probe.Properties) + 1,
		"properties end":   len(rec) - 5,
	}
	for name, cut := range regions {
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := testConfig(mem)
			cfg.CheckpointInterval = time.Hour
			cfg.FlushInterval = time.Hour
			s := mustOpen(t, cfg)
			// Pad so that the probe record's byte cut lands on a page start.
			padTo := int64(2*page - cut)
			var end int64
			for end < padTo-600 {
				res := mustPut(t, s, newMsg("Pad", 0, "p"))
				end = res.PhysOffset + int64(res.WroteBytes)
			}
			one := newMsg("Pad", 0, "p")
			one.PrepareEncode()
			filler := int(padTo-end) - one.EncodedSize() // grow one message to land exactly
			if filler < 0 {
				t.Fatalf("padding overshot: end %d, want %d", end, padTo)
			}
			res := mustPut(t, s, newMsg("Pad", 0, "p"+strings.Repeat("q", filler)))
			end = res.PhysOffset + int64(res.WroteBytes)
			if end != padTo {
				t.Fatalf("pad ends at %d, want %d", end, padTo)
			}
			got := mustPut(t, s, newMsg("Torn", 0, strings.Repeat("b", 300), "KEYS", "key-0", "UNIQ_KEY", strings.Repeat("u", 200)))
			if got.PhysOffset+int64(cut) != 2*page {
				t.Fatalf("probe at %d, cut at %d", got.PhysOffset, got.PhysOffset+int64(cut))
			}
			// freeze: the clone reads unsynced bytes, which the dispatcher
			// may still be writing through the index's mapping.
			var crashed *vfs.MemFS
			s.freeze(func() { crashed = mem.CrashClone(vfs.CrashOptions{KeepUnsyncedProbability: 1}) })
			s.Close()
			// The page holding the probe from cut on was lost.
			f, err := crashed.Open("/store/commitlog/00000000000000000000")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(make([]byte, page), 2*page); err != nil {
				t.Fatal(err)
			}
			f.Close()
			rs := mustOpen(t, testConfig(crashed))
			defer rs.Close()
			if end := rs.log.written.Load(); end != got.PhysOffset {
				t.Fatalf("recovered log ends at %d; the record torn in its %s began at %d", end, name, got.PhysOffset)
			}
			if n := rs.MaxOffset("Torn", 0); n != 0 {
				t.Fatalf("a record torn in its %s is in its queue", name)
			}
			if n, want := rs.MaxOffset("Pad", 0), res.QueueOffset+1; n != want {
				t.Fatalf("%d records before the torn one recovered, want %d", n, want)
			}
		})
	}
}
