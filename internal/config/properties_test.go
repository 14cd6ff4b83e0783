package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseProperties(t *testing.T) {
	type kv = Property
	tests := []struct {
		name string
		in   string
		want []Property
	}{
		{"equals", "a=b", []kv{{"a", "b", 1}}},
		{"colon", "a:b", []kv{{"a", "b", 1}}},
		{"space", "a b", []kv{{"a", "b", 1}}},
		{"tab", "a\tb", []kv{{"a", "b", 1}}},
		{"form feed", "a\fb", []kv{{"a", "b", 1}}},
		{"blanks around equals", "a  =  b", []kv{{"a", "b", 1}}},
		{"blanks around colon", "a :\tb", []kv{{"a", "b", 1}}},
		{"second separator is value", "a:=b", []kv{{"a", "=b", 1}}},
		{"second separator after blanks", "a = =b", []kv{{"a", "=b", 1}}},
		{"blank then colon then equals", "a : =b", []kv{{"a", "=b", 1}}},
		{"separators inside value", "namesrvAddr=h1:9876;h2:9876", []kv{{"namesrvAddr", "h1:9876;h2:9876", 1}}},
		{"key only", "a", []kv{{"a", "", 1}}},
		{"key and separator only", "a=", []kv{{"a", "", 1}}},
		{"key and blanks only", "a   ", []kv{{"a", "", 1}}},
		{"empty key", "=b", []kv{{"", "b", 1}}},
		{"leading blanks", " \t\f a=b", []kv{{"a", "b", 1}}},
		{"trailing blanks kept", "a=b  \t", []kv{{"a", "b  \t", 1}}},
		{"hash comment", "# a=b\nc=d", []kv{{"c", "d", 2}}},
		{"bang comment", "! a=b\nc=d", []kv{{"c", "d", 2}}},
		{"indented comment", "   # a=b\nc=d", []kv{{"c", "d", 2}}},
		{"hash inside value", "a=b # c", []kv{{"a", "b # c", 1}}},
		{"hash inside key", "a#b=c", []kv{{"a#b", "c", 1}}},
		{"blank lines", "\n\n  \n\ta=b\n\n", []kv{{"a", "b", 4}}},
		{"CRLF", "a=b\r\nc=d\r\n", []kv{{"a", "b", 1}, {"c", "d", 2}}},
		{"CR", "a=b\rc=d", []kv{{"a", "b", 1}, {"c", "d", 2}}},
		{"continuation", "a=b\\\n   c\nd=e", []kv{{"a", "bc", 1}, {"d", "e", 3}}},
		{"continuation CRLF", "a=b\\\r\n c\r\nd=e", []kv{{"a", "bc", 1}, {"d", "e", 3}}},
		{"continuation CR", "a=b\\\r c", []kv{{"a", "bc", 1}}},
		{"continuation of key", "ke\\\n  y=v", []kv{{"key", "v", 1}}},
		{"continuation before value", "a=\\\n   v", []kv{{"a", "v", 1}}},
		{"continuation twice", "a=1\\\n 2\\\n 3", []kv{{"a", "123", 1}}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", []kv{{"a", `b\`, 1}, {"c", "d", 2}}},
		{"odd backslashes continue", "a=b\\\\\\\nc", []kv{{"a", `b\c`, 1}}},
		{"continuation into empty line ends", "a=b\\\n\nc=d", []kv{{"a", "b", 1}, {"c", "d", 3}}},
		{"continuation into blank line ends", "a=b\\\n   \nc=d", []kv{{"a", "b", 1}, {"c", "d", 3}}},
		{"continuation at EOF", "a=b\\", []kv{{"a", "b", 1}}},
		{"hash after continuation is text", "a=b\\\n#c", []kv{{"a", "b#c", 1}}},
		{"comment does not continue", "# c\\\na=b", []kv{{"a", "b", 2}}},
		{"escapes", `a=\t\n\r\f\\\q\"`, []kv{{"a", "\t\n\r\f\\q\"", 1}}},
		{"escaped leading blank kept", `a=\  b`, []kv{{"a", "  b", 1}}},
		{"unicode escapes", `a=\u00e9\u4E2D`, []kv{{"a", "é中", 1}}},
		{"surrogate pair", `a=\uD83D\uDE00`, []kv{{"a", "😀", 1}}},
		{"lone high surrogate", `a=\uD83Dx`, []kv{{"a", "\uFFFDx", 1}}},
		{"high surrogate then non-low escape", `a=\uD83D\u0041`, []kv{{"a", "\uFFFDA", 1}}},
		{"lone low surrogate", `a=\uDE00`, []kv{{"a", "\uFFFD", 1}}},
		{"escaped equals in key", `a\=b=c`, []kv{{"a=b", "c", 1}}},
		{"escaped colon in key", `a\:b:c`, []kv{{"a:b", "c", 1}}},
		{"escaped blank in key", `my\ key value`, []kv{{"my key", "value", 1}}},
		{"escaped hash key", `\#a=b`, []kv{{"#a", "b", 1}}},
		{"escaped backslash then separator", `a\\=b`, []kv{{`a\`, "b", 1}}},
		{"utf-8 passes through", "名前=値", []kv{{"名前", "値", 1}}},
		{"byte-order mark skipped", "\uFEFFa=b", []kv{{"a", "b", 1}}},
		{"duplicates kept in order", "a=1\na=2", []kv{{"a", "1", 1}, {"a", "2", 2}}},
		{"empty document", "", nil},
		{"only comments", "# x\n! y\n", nil},
		{"rocketmq sample", "brokerClusterName = DefaultCluster\nbrokerName = broker-a\nbrokerId = 0\ndeleteWhen = 04\n",
			[]kv{{"brokerClusterName", "DefaultCluster", 1}, {"brokerName", "broker-a", 2}, {"brokerId", "0", 3}, {"deleteWhen", "04", 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProperties(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseProperties(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantMsg string
	}{
		{"a=b\nc=\\u12", `line 2: malformed \uxxxx escape "\u12"`},
		{"a=\\u12G4", `line 1: malformed \uxxxx escape "\u12G4"`},
		{"\n\nk\\u00=v", `line 3: malformed \uxxxx escape "\u00"`},
		{"a=\\u", `line 1: malformed \uxxxx escape "\u"`},
	}
	for _, tt := range tests {
		_, err := ParseProperties(strings.NewReader(tt.in))
		if err == nil {
			t.Fatalf("ParseProperties(%q): no error", tt.in)
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseProperties(%q): %v does not wrap ErrSyntax", tt.in, err)
		}
		if err.Error() != tt.wantMsg {
			t.Errorf("ParseProperties(%q) error\n got %s\nwant %s", tt.in, err, tt.wantMsg)
		}
	}
}

func TestParsePropertiesReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseProperties(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want it to wrap %v", err, boom)
	}
}

func TestFormatProperties(t *testing.T) {
	props := []Property{
		{Key: "plain", Value: "value"},
		{Key: "addr", Value: "h1:9876;h2:9876"},
		{Key: "my key=x:y#!", Value: " leading blank, trailing blank "},
		{Key: "#hash", Value: "#not a comment"},
		{Key: "", Value: "=starts with equals"},
		{Key: "ctl", Value: "a\tb\nc\rd\fe\x01f\\g"},
		{Key: "ends", Value: `backslash\`},
		{Key: "utf8", Value: "é中😀"},
		{Key: "empty", Value: ""},
	}
	text := FormatProperties(props)
	want := "plain=value\n" +
		"addr=h1:9876;h2:9876\n" +
		`my\ key\=x\:y\#\!=\ leading blank, trailing blank ` + "\n" +
		`\#hash=#not a comment` + "\n" +
		"==starts with equals\n" +
		`ctl=a\tb\nc\rd\fe\u0001f\\g` + "\n" +
		`ends=backslash\\` + "\n" +
		"utf8=é中😀\n" +
		"empty=\n"
	if text != want {
		t.Fatalf("FormatProperties\n got %s\nwant %s", text, want)
	}
	back, err := ParseProperties(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(props) {
		t.Fatalf("round trip: %d properties, want %d", len(back), len(props))
	}
	for i := range props {
		if back[i].Key != props[i].Key || back[i].Value != props[i].Value {
			t.Errorf("round trip %d: got %q=%q, want %q=%q", i, back[i].Key, back[i].Value, props[i].Key, props[i].Value)
		}
	}
}
