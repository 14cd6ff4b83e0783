package protocol

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	var f Fields
	f.Set("a", "1")
	f.Set("b", "2")
	f.Set("a", "3")
	f.SetInt("n", -42)
	f.SetBool("ok", true)
	want := Fields{{"a", "3"}, {"b", "2"}, {"n", "-42"}, {"ok", "true"}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("after Set: %v", f)
	}
	if v, ok := f.Lookup("b"); !ok || v != "2" {
		t.Fatalf("Lookup(b) = %q, %v", v, ok)
	}
	if v, ok := f.Lookup("zz"); ok || v != "" {
		t.Fatalf("Lookup(zz) = %q, %v", v, ok)
	}
	if f.Get("n") != "-42" || f.Get("zz") != "" || !f.Has("ok") || f.Has("zz") {
		t.Fatal("Get/Has")
	}
	c := f.Clone()
	f.Del("b")
	f.Del("zz")
	if !reflect.DeepEqual(f, Fields{{"a", "3"}, {"n", "-42"}, {"ok", "true"}}) {
		t.Fatalf("after Del: %v", f)
	}
	if c.Get("b") != "2" || len(c) != 4 {
		t.Fatalf("Clone shares storage: %v", c)
	}
	if got := f.String(); got != "{a=3, n=-42, ok=true}" {
		t.Fatalf("String = %q", got)
	}
	if m := f.Map(); len(m) != 3 || m["a"] != "3" {
		t.Fatalf("Map = %v", m)
	}
	if got := FieldsOf("x", "1", "y", "2", "x", "3"); !reflect.DeepEqual(got, Fields{{"x", "3"}, {"y", "2"}}) {
		t.Fatalf("FieldsOf = %v", got)
	}
}

func TestDedupe(t *testing.T) {
	tests := []struct {
		name  string
		in    Fields
		nulls []int
		want  Fields
	}{
		{"none", Fields{{"a", "1"}, {"b", "2"}}, nil, Fields{{"a", "1"}, {"b", "2"}}},
		{"last wins at first position", Fields{{"a", "1"}, {"b", "2"}, {"a", "3"}}, nil, Fields{{"a", "3"}, {"b", "2"}}},
		{"null removes", Fields{{"a", "1"}, {"b", "2"}, {"a", ""}}, []int{2}, Fields{{"b", "2"}}},
		{"value after null restores", Fields{{"a", ""}, {"b", "2"}, {"a", "4"}}, []int{0}, Fields{{"a", "4"}, {"b", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Clone().dedupe(tt.nulls); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Many keys take the map path and agree with the small path.
	var big Fields
	for i := range 1000 {
		big = append(big, Field{strconv.Itoa(i % 300), strconv.Itoa(i)})
	}
	got := big.dedupe(nil)
	if len(got) != 300 {
		t.Fatalf("len = %d", len(got))
	}
	for i, kv := range got {
		last := 600 + i // the last index below 1000 with this key
		if i < 100 {
			last = 900 + i
		}
		if kv.Key != strconv.Itoa(i) || kv.Value != strconv.Itoa(last) {
			t.Fatalf("entry %d = %v", i, kv)
		}
	}
}

func TestHeaderReader(t *testing.T) {
	cmd := &Command{Ext: FieldsOf(
		"topic", "T", "queueId", "3", "queueOffset", "-9000000000", "unitMode", "TRUE",
		"batch", "yes", "empty", "", "bad", "x1", "big", "2147483648", "plus", "+7")}
	r := ReadHeader(cmd)
	got := []any{
		r.String("topic"), r.Int32("queueId"), r.Int64("queueOffset"), r.Bool("unitMode"), r.Bool("batch"),
		r.String("empty"), r.OptString("tags", "*"), r.OptInt32("maxMsgNums", 32), r.OptInt64("commitOffset", -1),
		r.OptBool("order", true), r.OptBool("unitMode", false), r.Int32("plus"), r.Has("topic"), r.Has("tags"),
	}
	want := []any{"T", int32(3), int64(-9000000000), true, false, "", "*", int32(32), int64(-1), true, true, int32(7), true, false}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		read   func(r *HeaderReader)
		target error
		text   string
	}{
		{"missing string", func(r *HeaderReader) { r.String("producerGroup") }, ErrMissingField, "the custom field <producerGroup> is null"},
		{"missing int32", func(r *HeaderReader) { r.Int32("sysFlag") }, ErrMissingField, "the custom field <sysFlag> is null"},
		{"missing bool", func(r *HeaderReader) { r.Bool("order") }, ErrMissingField, "the custom field <order> is null"},
		{"missing int64", func(r *HeaderReader) { r.Int64("bornTimestamp") }, ErrMissingField, "the custom field <bornTimestamp> is null"},
		{"bad int32", func(r *HeaderReader) { r.Int32("bad") }, ErrInvalidField, `the custom field <bad> has invalid value "x1": want int32`},
		{"int32 overflow", func(r *HeaderReader) { r.Int32("big") }, ErrInvalidField, `<big> has invalid value "2147483648"`},
		{"empty int", func(r *HeaderReader) { r.OptInt64("empty", 5) }, ErrInvalidField, `<empty> has invalid value ""`},
		{"first error kept", func(r *HeaderReader) { r.Int64("bad"); r.String("nope") }, ErrInvalidField, `<bad> has invalid value "x1": want int64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReadHeader(cmd)
			tt.read(r)
			err := r.Err()
			var fe *FieldError
			if !errors.Is(err, tt.target) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v with %q", err, tt.target, tt.text)
			}
		})
	}
}
