package client

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/petrel-mq/petrel/internal/message"
)

// FuzzDecodeMessages feeds pull-response bodies (bytes from a broker, which
// the client must not trust) to the consumer's decoder: it must return an
// error or messages, never panic, and never inflate a body past its bound.
func FuzzDecodeMessages(f *testing.F) {
	host := netip.MustParseAddrPort("127.0.0.1:10911")
	for _, compressed := range []bool{false, true} {
		body := []byte("hello")
		sysFlag := int32(0)
		if compressed {
			var b bytes.Buffer
			w := zlib.NewWriter(&b)
			w.Write(bytes.Repeat([]byte("x"), 10000))
			w.Close()
			body, sysFlag = b.Bytes(), message.FlagCompressed
		}
		m := message.Message{Topic: "T", SysFlag: sysFlag, BornHost: host, StoreHost: host, Body: body,
			Properties: message.EncodeProperties(nil, "UNIQ_KEY", "ABC", "KEYS", "a b", "TAGS", "t", "TRAN_MSG", "true", "DELAY", "3")}
		m.PrepareEncode()
		rec := make([]byte, m.EncodedSize())
		m.Encode(rec, 7, 1024, 1700000000000)
		f.Add(rec)
		f.Add(append(append([]byte(nil), rec...), rec...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeMessages(b, "broker-a")
		if err != nil {
			return
		}
		for _, m := range msgs {
			if len(m.Body) > maxInflatedBody {
				t.Fatalf("body of %d bytes", len(m.Body))
			}
		}
	})
}

// TestInflateBound: a small compressed body that inflates past the bound
// is refused instead of allocated.
func TestInflateBound(t *testing.T) {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	zeros := make([]byte, 1<<20)
	for range maxInflatedBody>>20 + 1 {
		w.Write(zeros)
	}
	w.Close()
	if _, err := inflate(b.Bytes()); err != errBodyTooLarge {
		t.Fatalf("inflating %d compressed bytes: %v, want errBodyTooLarge", b.Len(), err)
	}
	b.Reset()
	w = zlib.NewWriter(&b)
	w.Write(zeros)
	w.Close()
	if out, err := inflate(b.Bytes()); err != nil || len(out) != len(zeros) {
		t.Fatalf("inflating 1 MiB: %d bytes, %v", len(out), err)
	}
}

// FuzzSpoolRecord feeds spool file bytes (a disk that may have torn or
// damaged them) to the record check: an error or a size within b, never a
// panic.
func FuzzSpoolRecord(f *testing.F) {
	payload := []byte(`[{"Topic":"T","Body":"aGk="}]`)
	rec := make([]byte, spoolRecordHeader+len(payload))
	binary.BigEndian.PutUint32(rec, uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(payload, castagnoli))
	copy(rec[spoolRecordHeader:], payload)
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := checkRecord(b)
		if err == nil && (n < spoolRecordHeader || n > int64(len(b))) {
			t.Fatalf("size %d of %d bytes", n, len(b))
		}
	})
}

// FuzzObjectKeyedMaps: brokers' and consumers' fastjson bodies (consume
// stats, offset resets, running info) never panic the readers, and an
// entry found is always a whole value.
func FuzzObjectKeyedMaps(f *testing.F) {
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5}}`))
	f.Add([]byte(`{"properties":{"a":"b"},"mqTable":{{"brokerName":"b","queueId":1,"topic":"T"}:{"commitOffset":3}},"jstack":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := queueMapEntries(b, "offsetTable")
		if err == nil {
			for _, e := range entries {
				if len(e.value) == 0 {
					t.Fatalf("empty value for %v", e.queue)
				}
			}
		}
		parseQueueOffsets(b)
		decodeRunningInfo(b)
	})
}
