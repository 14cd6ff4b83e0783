package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func sample() *Message {
	m := &Message{
		Topic:                     "TopicTest",
		QueueID:                   3,
		Flag:                      7,
		SysFlag:                   FlagCompressed,
		BornTimestamp:             1700000000123,
		BornHost:                  netip.MustParseAddrPort("10.0.0.9:51234"),
		StoreHost:                 netip.MustParseAddrPort("192.168.1.10:10911"),
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 99,
		Body:                      []byte("hello petrel"),
		Properties:                EncodeProperties(nil, PropertyTags, "TagA", PropertyKeys, "k1 k2", PropertyUniqClientMessageID, "C0A8010A000000000000000000000001"),
	}
	m.PrepareEncode()
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		born, store string
		wantSize    int
		wantSysFlag int32
	}{
		{"ipv4", "10.0.0.9:51234", "192.168.1.10:10911", 0, FlagCompressed},
		{"born v6", "[2001:db8::1]:40000", "192.168.1.10:10911", 12, FlagCompressed | FlagBornHostV6},
		{"both v6", "[2001:db8::1]:40000", "[2001:db8::2]:10911", 24, FlagCompressed | FlagBornHostV6 | FlagStoreHostV6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sample()
			m.BornHost = netip.MustParseAddrPort(tc.born)
			m.StoreHost = netip.MustParseAddrPort(tc.store)
			buf := make([]byte, m.EncodedSize()+10)
			n := m.Encode(buf, 42, 4096, 1700000000999)
			want := 91 + len(m.Body) + len(m.Topic) + len(m.Properties) + tc.wantSize
			if n != want || n != m.EncodedSize() {
				t.Fatalf("size %d, EncodedSize %d, want %d", n, m.EncodedSize(), want)
			}
			e, err := Decode(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			if e.Topic != m.Topic || e.QueueID != 3 || e.Flag != 7 || e.QueueOffset != 42 ||
				e.PhysicalOffset != 4096 || e.SysFlag != tc.wantSysFlag || e.BornTimestamp != m.BornTimestamp ||
				e.StoreTimestamp != 1700000000999 || e.ReconsumeTimes != 2 || e.PreparedTransactionOffset != 99 ||
				!bytes.Equal(e.Body, m.Body) || e.BornHost != m.BornHost || e.StoreHost != m.StoreHost ||
				e.Properties[PropertyTags] != "TagA" || e.Properties[PropertyKeys] != "k1 k2" {
				t.Fatalf("decoded %+v", e)
			}
		})
	}
}

// TestLayoutIPv4 pins the byte offsets of the v1 layout the clients decode.
func TestLayoutIPv4(t *testing.T) {
	m := sample()
	b := make([]byte, m.EncodedSize())
	m.Encode(b, 42, 4096, 1700000000999)
	be := binary.BigEndian
	checks := []struct {
		off  int
		got  uint64
		want uint64
	}{
		{0, uint64(be.Uint32(b[0:])), uint64(len(b))},
		{4, uint64(be.Uint32(b[4:])), 0xDAA320A7},
		{12, uint64(be.Uint32(b[12:])), 3},
		{20, be.Uint64(b[20:]), 42},
		{28, be.Uint64(b[28:]), 4096},
		{36, uint64(be.Uint32(b[36:])), FlagCompressed},
		{40, be.Uint64(b[40:]), 1700000000123},
		{52, uint64(be.Uint32(b[52:])), 51234},
		{56, be.Uint64(b[56:]), 1700000000999},
		{64, uint64(be.Uint32(b[64:])), 0xC0A8010A},
		{68, uint64(be.Uint32(b[68:])), 10911},
		{72, uint64(be.Uint32(b[72:])), 2},
		{76, be.Uint64(b[76:]), 99},
		{84, uint64(be.Uint32(b[84:])), uint64(len(m.Body))},
		{88 + len(m.Body), uint64(b[88+len(m.Body)]), uint64(len(m.Topic))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("offset %d: got %d want %d", c.off, c.got, c.want)
		}
	}
	if got := be.Uint32(b[8:]); int32(got) != BodyChecksum(m.Body) || got&0x80000000 != 0 {
		t.Errorf("body crc %#x", got)
	}
}

func TestCheckRecordErrors(t *testing.T) {
	m := sample()
	good := make([]byte, m.EncodedSize())
	m.Encode(good, 0, 0, 1)
	mut := func(f func(b []byte)) []byte { b := append([]byte(nil), good...); f(b); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", good[:5], ErrTruncated},
		{"torn", good[:len(good)-1], ErrTruncated},
		{"zeros", make([]byte, 200), ErrCorrupt},
		{"bad magic", mut(func(b []byte) { b[4] = 0 }), ErrCorrupt},
		{"crc", mut(func(b []byte) { b[90] ^= 1 }), ErrCorrupt},
		{"body len", mut(func(b []byte) { binary.BigEndian.PutUint32(b[84:], 1<<30) }), ErrCorrupt},
		{"neg body len", mut(func(b []byte) { binary.BigEndian.PutUint32(b[84:], 0xFFFFFFFF) }), ErrCorrupt},
		{"total too small", mut(func(b []byte) { binary.BigEndian.PutUint32(b[0:], 50) }), ErrCorrupt},
		{"props len", mut(func(b []byte) { b[len(b)-len(m.Properties)-1]++ }), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := CheckRecord(tc.b, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	blank := make([]byte, 100)
	PutBlank(blank, 100)
	if n, isBlank, err := CheckRecord(blank, true); err != nil || !isBlank || n != 100 {
		t.Fatalf("blank: %d %v %v", n, isBlank, err)
	}
}

func TestProperties(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"A\x01a\x02", map[string]string{"A": "a"}},
		{"A\x01a\x02B\x01b", map[string]string{"A": "a", "B": "b"}}, // Java 4.9.3+: no trailing separator
		{"A\x01a\x02\x01x\x02C\x01\x02D", map[string]string{"A": "a"}},
		{"A\x01a\x02A\x01b\x02", map[string]string{"A": "b"}},
		{"A\x01a\x01b\x02", map[string]string{"A": "a\x01b"}},
	} {
		got := ParseProperties([]byte(tc.in))
		if len(got) != len(tc.want) {
			t.Fatalf("%q: %v", tc.in, got)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Fatalf("%q: %v", tc.in, got)
			}
		}
	}
	p := EncodeProperties(nil, "WAIT", "true", "TAGS", "x", "E", "")
	if string(p) != "WAIT\x01true\x02TAGS\x01x\x02" {
		t.Fatalf("encode %q", p)
	}
	if v, ok := LookupProperty(p, "TAGS"); !ok || string(v) != "x" {
		t.Fatal("lookup")
	}
	if _, ok := LookupProperty(p, "TAG"); ok {
		t.Fatal("lookup prefix")
	}
	q := AppendPropertiesWithout(nil, []byte("WAIT\x01true\x02TAGS\x01x"), PropertyWaitStoreMsgOK)
	if string(q) != "TAGS\x01x\x02" {
		t.Fatalf("without %q", q)
	}
	var keys []string
	RangeKeys([]byte(" k1  k2 k3"), func(k []byte) { keys = append(keys, string(k)) })
	if len(keys) != 3 || keys[0] != "k1" || keys[2] != "k3" {
		t.Fatalf("keys %q", keys)
	}
}

func TestTagsHashCode(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want int64
	}{
		{"", 0}, {"TagA", 2598919}, {"TagB", 2598920}, {"TagC", 2598921},
		{"a-very-long-tag-name-that-overflows", -784923820}, // values from Java's String.hashCode
		{"标签", 857175},
		{"😀", 1772899}, // a surrogate pair
	} {
		if got := TagsHashCode([]byte(tc.tag)); got != tc.want {
			t.Errorf("TagsHashCode(%q) = %d, want %d", tc.tag, got, tc.want)
		}
		if got := TagsHashCodeString(tc.tag); got != tc.want {
			t.Errorf("TagsHashCodeString(%q) = %d, want %d", tc.tag, got, tc.want)
		}
	}
}

func TestOffsetMsgID(t *testing.T) {
	id := OffsetMsgID(netip.MustParseAddrPort("127.0.0.1:10911"), 0)
	if id != "7F00000100002A9F0000000000000000" {
		t.Fatalf("id %s", id)
	}
	for _, hp := range []string{"192.168.1.10:10911", "[2001:db8::2]:10911"} {
		host := netip.MustParseAddrPort(hp)
		id := OffsetMsgID(host, 123456789012)
		h, off, err := ParseOffsetMsgID(id)
		if err != nil || h != host || off != 123456789012 {
			t.Fatalf("%s: %v %v %v", id, h, off, err)
		}
	}
	for _, bad := range []string{"", "7F00000100002A9F000000000000000", "ZZ00000100002A9F0000000000000000", "7F00000100002A9F8000000000000000"} {
		if _, _, err := ParseOffsetMsgID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestBatch(t *testing.T) {
	var body []byte
	body = AppendBatchItem(body, BatchItem{Flag: 1, Body: []byte("one"), Properties: []byte("TAGS\x01a\x02")})
	body = AppendBatchItem(body, BatchItem{Flag: 2, Body: []byte("two"), Properties: nil})
	var got []BatchItem
	if err := RangeBatch(body, func(it BatchItem) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Body) != "one" || got[1].Flag != 2 || string(got[0].Properties) != "TAGS\x01a\x02" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range [][]byte{nil, body[:10], body[:len(body)-1], append(append([]byte(nil), body...), 0)} {
		if err := RangeBatch(bad, func(BatchItem) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("len %d: %v", len(bad), err)
		}
	}
}

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"T", "TopicTest", "%RETRY%group", "%DLQ%g", "a|b", "x_y-z", string(bytes.Repeat([]byte("a"), 127))} {
		if err := ValidateTopic(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../etc", "a/b", "a.b", "a b", "tópico", string(bytes.Repeat([]byte("a"), 128)), "a\x00"} {
		if err := ValidateTopic(bad); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEncodeAllocs(t *testing.T) {
	m := sample()
	buf := make([]byte, m.EncodedSize())
	allocs := testing.AllocsPerRun(100, func() {
		m.PrepareEncode()
		m.Encode(buf, 1, 2, 3)
		_, _, _ = CheckRecord(buf, true)
		_ = AppendOffsetMsgID(buf[:0:cap(buf)], m.StoreHost, 5)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}
