package message

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func FuzzCheckRecord(f *testing.F) {
	m := sample()
	b := make([]byte, m.EncodedSize())
	m.Encode(b, 1, 2, 3)
	f.Add(b)
	f.Add(b[:40])
	blank := make([]byte, 16)
	PutBlank(blank, 16)
	f.Add(blank)
	f.Fuzz(func(t *testing.T, data []byte) {
		size, blank, err := CheckRecord(data, true)
		if err != nil {
			return
		}
		if size > len(data) && !blank {
			t.Fatalf("size %d beyond %d bytes", size, len(data))
		}
		if blank {
			return
		}
		// CheckText looks inside what CheckRecord accepted: it refuses
		// exactly the records with a NUL in the topic or properties.
		textErr := CheckText(data)
		e, err := Decode(data)
		if err != nil {
			t.Fatalf("CheckRecord accepted what Decode refused: %v", err)
		}
		// Re-encoding the decoded message must reproduce the record.
		re := &Message{Topic: e.Topic, QueueID: e.QueueID, Flag: e.Flag, SysFlag: e.SysFlag,
			BornTimestamp: e.BornTimestamp, BornHost: e.BornHost, StoreHost: e.StoreHost,
			ReconsumeTimes: e.ReconsumeTimes, PreparedTransactionOffset: e.PreparedTransactionOffset,
			Body: e.Body, Properties: e.RawProperties}
		hasNUL := strings.IndexByte(e.Topic, 0) >= 0 || bytes.IndexByte(e.RawProperties, 0) >= 0
		if (textErr != nil) != hasNUL {
			t.Fatalf("CheckText says %v for topic %q and properties %q", textErr, e.Topic, e.RawProperties)
		}
		re.PrepareEncode()
		out := make([]byte, re.EncodedSize())
		re.Encode(out, e.QueueOffset, e.PhysicalOffset, e.StoreTimestamp)
		e2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		// Ports are int32 on disk but uint16 in memory, so compare decoded values.
		e.StoreSize, e2.StoreSize = 0, 0
		e.SysFlag, e2.SysFlag = 0, 0
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", e, e2)
		}
	})
}

func FuzzRangeBatch(f *testing.F) {
	body := AppendBatchItem(nil, BatchItem{Flag: 1, Body: []byte("one"), Properties: []byte("A\x01b\x02")})
	f.Add(body)
	f.Add(AppendBatchItem(body, BatchItem{Body: []byte("two")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n int
		_ = RangeBatch(data, func(it BatchItem) error {
			n += 22 + len(it.Body) + len(it.Properties)
			return nil
		})
		if n > len(data) {
			t.Fatalf("items cover %d of %d bytes", n, len(data))
		}
	})
}

func FuzzProperties(f *testing.F) {
	f.Add([]byte("A\x01a\x02B\x01b"))
	f.Add([]byte("\x01\x02\x01\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ParseProperties(data)
		var pairs []string
		ref := map[string]string{}
		RangeProperties(data, func(n, v []byte) bool {
			pairs = append(pairs, string(n), string(v))
			ref[string(n)] = string(v)
			return true
		})
		if len(m) != len(ref) {
			t.Fatalf("parsed %d properties, the iterator saw %d", len(m), len(ref))
		}
		for k, v := range ref {
			if m[k] != v {
				t.Fatalf("%q: parsed %q, the iterator saw %q", k, m[k], v)
			}
		}
		enc := EncodeProperties(nil, pairs...)
		m2 := ParseProperties(enc)
		for k, v := range m {
			if m2[k] != v && !bytes.ContainsAny([]byte(k+v), "\x01\x02") {
				t.Fatalf("round trip lost %q=%q", k, v)
			}
		}
	})
}

func FuzzParseOffsetMsgID(f *testing.F) {
	f.Add("7F00000100002A9F0000000000000000")
	f.Fuzz(func(t *testing.T, id string) {
		h, off, err := ParseOffsetMsgID(id)
		if err != nil {
			return
		}
		if got := OffsetMsgID(h, off); !bytes.EqualFold([]byte(got), []byte(id)) && len(id) == 32 {
			t.Fatalf("%q -> %q", id, got)
		}
	})
}
