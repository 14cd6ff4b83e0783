package protocol

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// The exact bytes of a PULL_MESSAGE header sent by the Go client v2.1.2 (spec 1.3).
const goPullRequestJSON = `{"code":11,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"queueOffset":"5","maxMsgNums":"32","sysFlag":"2","commitOffset":"0","suspendTimeoutMillis":"20000","subscription":"","subVersion":"0","expressionType":"TAG","consumerGroup":"cg","topic":"T","queueId":"1"}}`

// A SEND_MESSAGE reply from a Java 4.9 broker (spec 1.3).
const javaSendReplyJSON = `{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"1","queueOffset":"0","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}`

// normalize makes nil and empty Ext/Body compare equal.
func normalize(c *Command) Command {
	n := *c
	if len(n.Ext) == 0 {
		n.Ext = nil
	}
	if len(n.Body) == 0 {
		n.Body = nil
	}
	return n
}

func assertEqualCommand(t testing.TB, got, want *Command) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("command mismatch\n got: %#v\nwant: %#v", g, w)
	}
}

func TestDecodeJSONGolden(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Command
	}{
		{"go pull request", goPullRequestJSON, &Command{
			Code: PullMessage, Language: "GO", Version: 317, Opaque: 1,
			Ext: FieldsOf("queueOffset", "5", "maxMsgNums", "32", "sysFlag", "2", "commitOffset", "0",
				"suspendTimeoutMillis", "20000", "subscription", "", "subVersion", "0", "expressionType", "TAG",
				"consumerGroup", "cg", "topic", "T", "queueId", "1"),
		}},
		{"java send reply", javaSendReplyJSON, &Command{
			Code: Success, Language: "JAVA", Version: 409, Opaque: 5, Flag: FlagResponse,
			Ext: FieldsOf("msgId", "7F00000100002A9F0000000000000000", "queueId", "1", "queueOffset", "0",
				"MSG_REGION", "DefaultRegion", "TRACE_ON", "true"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeJSONHeader([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			assertEqualCommand(t, got, tt.want)
		})
	}
}

func TestDecodeJSONAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Command
	}{
		{"empty object", `{}`, &Command{}},
		{"whitespace", " \t\r\n{ \"code\" : 10 , \"extFields\" : { \"a\" : \"b\" } } \n", &Command{Code: 10, Ext: FieldsOf("a", "b")}},
		{"extFields absent", `{"code":1}`, &Command{Code: 1}},
		{"extFields null", `{"code":1,"extFields":null}`, &Command{Code: 1}},
		{"extFields empty", `{"code":1,"extFields":{}}`, &Command{Code: 1}},
		{"remark absent", `{"flag":1}`, &Command{Flag: 1}},
		{"remark empty", `{"remark":""}`, &Command{}},
		{"remark null", `{"remark":null}`, &Command{}},
		{"null leaves earlier value", `{"remark":"x","remark":null,"code":3,"code":null}`, &Command{Remark: "x", Code: 3}},
		{"unknown members of every type",
			`{"a":{"b":[1,2.5e3,-0.1E-2,true,false,null,"s",{"c":{}}]},"d":[],"e":"x\"y","f":-7,"g":true,"h":null,"code":2}`,
			&Command{Code: 2}},
		{"case-insensitive members", `{"CODE":5,"Language":"JAVA","extfields":{"k":"v"}}`, &Command{Code: 5, Language: "JAVA", Ext: FieldsOf("k", "v")}},
		{"number and bool ext values", `{"extFields":{"queueOffset":5,"n":-1.5e3,"b":true,"c":false}}`,
			&Command{Ext: FieldsOf("queueOffset", "5", "n", "-1.5e3", "b", "true", "c", "false")}},
		{"null ext value removes the key", `{"extFields":{"a":"1","b":"2","a":null,"c":null}}`, &Command{Ext: FieldsOf("b", "2")}},
		{"duplicate ext keys: last wins, first position", `{"extFields":{"a":"1","b":"2","a":"3"}}`, &Command{Ext: FieldsOf("a", "3", "b", "2")}},
		{"second extFields merges", `{"extFields":{"a":"1"},"extFields":{"b":"2"}}`, &Command{Ext: FieldsOf("a", "1", "b", "2")}},
		{"extFields null resets", `{"extFields":{"a":"1"},"extFields":null}`, &Command{}},
		{"escapes", `{"remark":"q\"b\\s\/\b\f\n\r\t\u0041\u00e9\u4e2d"}`, &Command{Remark: "q\"b\\s/\b\f\n\r\tAé中"}},
		{"surrogate pair", `{"remark":"\ud83d\ude00"}`, &Command{Remark: "😀"}},
		{"lone high surrogate", `{"remark":"\ud83dx"}`, &Command{Remark: "\uFFFDx"}},
		{"high surrogate then non-surrogate", `{"remark":"\ud800\u0041"}`, &Command{Remark: "\uFFFDA"}},
		{"lone low surrogate", `{"remark":"\ude00"}`, &Command{Remark: "\uFFFD"}},
		{"raw UTF-8", `{"remark":"中文 é"}`, &Command{Remark: "中文 é"}},
		{"invalid UTF-8 replaced", "{\"remark\":\"a\xffb\"}", &Command{Remark: "a\uFFFDb"}},
		{"negative and extreme ints", `{"code":-2147483648,"opaque":2147483647,"flag":-0}`, &Command{Code: -2147483648, Opaque: 2147483647}},
		{"5.x code beyond int16", `{"code":200050}`, &Command{Code: PopMessage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeJSONHeader([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			assertEqualCommand(t, got, tt.want)
		})
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", ``, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"trailing data", `{}x`, "after the header object"},
		{"two objects", `{}{}`, "after the header object"},
		{"unterminated object", `{"code":1`, "expected ',' or '}'"},
		{"missing colon", `{"code" 1}`, "expected ':'"},
		{"unquoted key", `{code:1}`, "expected a string"},
		{"code float", `{"code":1.5}`, "not a 32-bit integer"},
		{"code exponent", `{"code":1e2}`, "not a 32-bit integer"},
		{"code overflow", `{"code":2147483648}`, "not a 32-bit integer"},
		{"code string", `{"code":"10"}`, "invalid number"},
		{"leading zero", `{"code":01}`, "expected ',' or '}'"},
		{"bare minus", `{"x":-}`, "invalid number"},
		{"language number", `{"language":9}`, "must be a string"},
		{"extFields array", `{"extFields":[]}`, "must be an object"},
		{"ext value object", `{"extFields":{"a":{}}}`, "must be a string, number or boolean"},
		{"unterminated string", `{"remark":"abc`, "unterminated string"},
		{"control char", "{\"remark\":\"a\nb\"}", "control character"},
		{"bad escape", `{"remark":"\x"}`, "invalid escape"},
		{"bad unicode escape", `{"remark":"\u12"}`, "invalid \\u escape"},
		{"bad literal", `{"x":tru}`, "invalid value"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, "nesting deeper"},
		{"trailing comma", `{"code":1,}`, "expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJSONHeader([]byte(tt.in))
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("err = %v, want ErrMalformedFrame", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.reason)
			}
		})
	}
}

func TestAppendJSONHeader(t *testing.T) {
	tests := []struct {
		name string
		cmd  *Command
		want string
	}{
		{"response", (&Command{Opaque: 42}).NewResponse(PullNotFound, ""),
			`{"code":19,"language":"GO","version":409,"opaque":42,"flag":1,"extFields":{}}`},
		{"request with fields and remark", &Command{Code: SendMessage, Language: "GO", Version: 317, Opaque: 7, Remark: "r",
			Ext: FieldsOf("topic", "T", "queueId", "3")},
			`{"code":10,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"r","extFields":{"topic":"T","queueId":"3"}}`},
		{"escaping", &Command{Remark: "a\"b\\c\n\r\t\x01\x1f\x7fé中", Ext: FieldsOf("k\"", "v\x00")},
			`{"code":0,"language":"","version":0,"opaque":0,"flag":0,"remark":"a\"b\\c\n\r\t\u0001\u001f` + "\x7f" + `é中","extFields":{"k\"":"v\u0000"}}`},
		{"invalid UTF-8", &Command{Remark: "a\xffb\xc3"},
			`{"code":0,"language":"","version":0,"opaque":0,"flag":0,"remark":"a\ufffdb\ufffd","extFields":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendJSONHeader(nil, tt.cmd)); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A ROCKETMQ header: SEND_MESSAGE from JAVA, version 409, opaque 7, flag 2,
// remark "hi", extFields {topic: T, queueId: 3}.
const binaryHeaderHex = "000a" + "00" + "0199" + "00000007" + "00000002" +
	"00000002" + "6869" +
	"0000001a" +
	"0005" + "746f706963" + "00000001" + "54" +
	"0007" + "71756575654964" + "00000001" + "33"

func TestRocketMQHeaderGolden(t *testing.T) {
	want := &Command{Code: SendMessage, Language: "JAVA", Version: 409, Opaque: 7, Flag: FlagOneway,
		Remark: "hi", Ext: FieldsOf("topic", "T", "queueId", "3"), SerializeType: RocketMQ}
	raw, _ := hex.DecodeString(binaryHeaderHex)
	got, err := DecodeRocketMQHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualCommand(t, got, want)
	enc, err := AppendRocketMQHeader(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(enc) != binaryHeaderHex {
		t.Fatalf("encoded %x\n   want %s", enc, binaryHeaderHex)
	}
}

func TestDecodeRocketMQ(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		want   *Command // nil: expect an error
		reason string
	}{
		{"minimal", "0022" + "09" + "013d" + "00000001" + "00000001" + "00000000" + "00000000",
			&Command{Code: HeartBeat, Language: "GO", Version: 317, Opaque: 1, Flag: 1, SerializeType: RocketMQ}, ""},
		{"unknown language becomes OTHER", "0022" + "ff" + "0000" + "00000000" + "00000000" + "00000000" + "00000000",
			&Command{Code: HeartBeat, Language: "OTHER", SerializeType: RocketMQ}, ""},
		{"negative code sign-extends", "ffff" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000000",
			&Command{Code: -1, Language: "JAVA", SerializeType: RocketMQ}, ""},
		{"empty value removes key, empty key dropped",
			"0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000016" +
				"0001" + "61" + "00000001" + "31" + // a=1
				"0000" + "00000001" + "32" + // ""=2
				"0001" + "61" + "00000000", // a=null
			&Command{Language: "JAVA", SerializeType: RocketMQ}, ""},
		{"trailing bytes ignored", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000000" + "dead",
			&Command{Language: "JAVA", SerializeType: RocketMQ}, ""},
		{"short", "0000000000", nil, "shorter than the 21-byte fixed part"},
		{"remark too long", "0000" + "00" + "0000" + "00000000" + "00000000" + "7fffffff" + "00000000", nil, "remark length 2147483647"},
		{"remark negative", "0000" + "00" + "0000" + "00000000" + "00000000" + "ffffffff" + "00000000", nil, "remark length -1"},
		{"ext too long", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000010" + "00", nil, "extFields length 16"},
		{"ext negative", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "80000000", nil, "extFields length -2147483648"},
		{"key length truncated", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000001" + "00", nil, "key length"},
		{"key too long", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000003" + "7fff00", nil, "key length 32767"},
		{"key negative", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000003" + "ffff00", nil, "key length -1"},
		{"value length truncated", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000004" + "00016100", nil, "value length"},
		{"value too long", "0000" + "00" + "0000" + "00000000" + "00000000" + "00000000" + "00000007" + "0001" + "61" + "7fffffff", nil, "value length 2147483647"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRocketMQHeader(raw)
			if tt.want == nil {
				if !errors.Is(err, ErrMalformedFrame) || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("err = %v, want ErrMalformedFrame mentioning %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertEqualCommand(t, got, tt.want)
		})
	}
}

func TestAppendRocketMQHeaderNotRepresentable(t *testing.T) {
	for _, c := range []*Command{
		{Code: PopMessage},
		{Code: -40000},
		{Version: 40000},
		{Ext: FieldsOf(strings.Repeat("k", 1<<15), "v")},
	} {
		if _, err := AppendRocketMQHeader(nil, c); !errors.Is(err, ErrNotRepresentable) {
			t.Errorf("AppendRocketMQHeader(%v) err = %v, want ErrNotRepresentable", c, err)
		}
	}
}

func frameBytes(t testing.TB, cmds ...*Command) []byte {
	t.Helper()
	var b []byte
	for _, c := range cmds {
		b = c.AppendFrame(b)
	}
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	bigBody := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16+7) // > bodyChunk: grows as it arrives
	bigHeader := &Command{Code: SendMessage, Language: "JAVA", Ext: FieldsOf("properties", strings.Repeat("p", 100000))}
	cmds := []*Command{
		{Code: SendMessage, Language: "GO", Version: 317, Opaque: 1, Ext: FieldsOf("topic", "T"), Body: []byte("hello")},
		{Code: SendMessage, Language: "JAVA", Version: 409, Opaque: 2, Remark: "r", Ext: FieldsOf("topic", "T"), Body: []byte("bin"), SerializeType: RocketMQ},
		{Code: Success, Language: "GO", Flag: FlagResponse, Opaque: 3},
		{Code: PullMessage, Language: "GO", Opaque: 4, Body: bigBody},
		bigHeader,
		{Code: SendMessage, Language: "RUST", Opaque: 5, SerializeType: RocketMQ, Ext: FieldsOf("a", "b")},
	}
	r := bufio.NewReaderSize(bytes.NewReader(frameBytes(t, cmds...)), 4096)
	for i, want := range cmds {
		got, err := ReadFrame(r, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		assertEqualCommand(t, got, want)
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("after the last frame err = %v, want io.EOF", err)
	}
}

func TestAppendFrameFallsBackToJSON(t *testing.T) {
	c := &Command{Code: PopMessage, Language: "GO", SerializeType: RocketMQ}
	got, err := ReadFrame(bufio.NewReader(bytes.NewReader(c.AppendFrame(nil))), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.SerializeType = JSON
	assertEqualCommand(t, got, &want)
}

// frame builds raw frame bytes from a length prefix, header info and payload.
func frame(frameLen uint32, info uint32, payload string) []byte {
	b := []byte{byte(frameLen >> 24), byte(frameLen >> 16), byte(frameLen >> 8), byte(frameLen),
		byte(info >> 24), byte(info >> 16), byte(info >> 8), byte(info)}
	return append(b, payload...)
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		limit  int
		target error
		reason string
	}{
		{"partial length", []byte{0, 0}, 0, io.ErrUnexpectedEOF, ""},
		{"partial header info", []byte{0, 0, 0, 6, 0, 0}, 0, io.ErrUnexpectedEOF, ""},
		{"length below 4", frame(3, 0, ""), 0, ErrMalformedFrame, "frame length 3"},
		{"negative length", frame(0x80000000, 0, ""), 0, ErrMalformedFrame, "frame length -2147483648"},
		{"over default limit", frame(16<<20-3, 0, ""), 0, ErrFrameTooLarge, "16777217 bytes"},
		{"over custom limit", frame(100, 2, "{}"), 64, ErrFrameTooLarge, "limit 64"},
		{"header longer than frame", frame(6, 3, "{}"), 0, ErrMalformedFrame, "header length 3 exceeds"},
		{"unknown serialize type", frame(6, 2<<24|2, "{}"), 0, ErrMalformedFrame, "unknown serialize type 2"},
		{"bad JSON header", frame(6, 2, "[]"), 0, ErrMalformedFrame, "not a JSON object"},
		{"bad binary header", frame(6, 1<<24|2, "\x00\x00"), 0, ErrMalformedFrame, "fixed part"},
		{"truncated header", frame(10, 6, "{}"), 0, io.ErrUnexpectedEOF, ""},
		{"truncated body", frame(10, 2, "{}a"), 0, io.ErrUnexpectedEOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.limit)
			if !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.target, tt.reason)
			}
		})
	}
}

func TestReadFrameAtLimit(t *testing.T) {
	c := &Command{Code: SendMessage, Language: "GO", Body: make([]byte, 1000)}
	b := c.AppendFrame(nil)
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), len(b)); err != nil {
		t.Fatalf("frame of exactly the limit: %v", err)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), len(b)-1); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame one byte over the limit: err = %v", err)
	}
	if _, err := c.EncodeFrame(nil, len(b)-1); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("EncodeFrame one byte over the limit: err = %v", err)
	}
	if out, err := c.EncodeFrame(nil, len(b)); err != nil || !bytes.Equal(out, b) {
		t.Fatalf("EncodeFrame at the limit: err = %v", err)
	}
}

// A header error consumes the frame, so the next frame still reads.
func TestReadFrameStaysInSyncAfterHeaderError(t *testing.T) {
	in := append(frame(9, 2, "[]abc"), (&Command{Code: 1, Language: "GO"}).AppendFrame(nil)...)
	r := bufio.NewReader(bytes.NewReader(in))
	if _, err := ReadFrame(r, 0); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("err = %v", err)
	}
	if c, err := ReadFrame(r, 0); err != nil || c.Code != 1 {
		t.Fatalf("next frame: %v, %v", c, err)
	}
}

// A peer claiming a 16 MiB frame and sending a few bytes must not make the
// reader allocate 16 MiB, nor may a header claim more than is present.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	in := frame(16<<20-4, 2, "{}some body bytes")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bufio.NewReader(bytes.NewReader(in)), 0)
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("allocated %d bytes for a frame of %d bytes", n, len(in))
	}
	hdr, _ := hex.DecodeString("0000" + "00" + "0000" + "00000000" + "00000000" + "7ffffff0" + "00000000")
	runtime.ReadMemStats(&before)
	_, err = DecodeRocketMQHeader(hdr)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("want an error")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes for a header claiming a 2 GiB remark", n)
	}
}

func TestNewResponse(t *testing.T) {
	req := &Command{Code: SendMessage, Language: "JAVA", Version: 317, Opaque: 99, Flag: 0, SerializeType: RocketMQ,
		Ext: FieldsOf("topic", "T")}
	got := req.NewResponse(SystemBusy, "busy")
	want := &Command{Code: SystemBusy, Language: "GO", Version: 409, Opaque: 99, Flag: FlagResponse, Remark: "busy", SerializeType: RocketMQ}
	assertEqualCommand(t, got, want)
	if !got.IsResponse() || got.IsOneway() {
		t.Fatal("flags")
	}
	r := NewRequest(HeartBeat, FieldsOf("a", "b"), []byte("x"))
	if r.IsResponse() || r.Language != "GO" || r.Version != CurrentVersion || r.SerializeType != JSON {
		t.Fatalf("NewRequest = %v", r)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{RequestName(SendMessage), "SEND_MESSAGE"},
		{RequestName(GetRouteInfoByTopic), "GET_ROUTEINFO_BY_TOPIC"},
		{RequestName(PopMessage), "POP_MESSAGE"},
		{RequestName(9999), "REQUEST_9999"},
		{ResponseName(PullOffsetMoved), "PULL_OFFSET_MOVED"},
		{ResponseName(RequestCodeNotSupported), "REQUEST_CODE_NOT_SUPPORTED"},
		{ResponseName(-5), "RESPONSE_-5"},
		{JSON.String(), "JSON"},
		{RocketMQ.String(), "ROCKETMQ"},
		{SerializeType(7).String(), "SerializeType(7)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for code, name := range []string{"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"} {
		if c, ok := LanguageCode(name); !ok || int(c) != code {
			t.Errorf("LanguageCode(%s) = %d, %v", name, c, ok)
		}
		if n, ok := LanguageName(byte(code)); !ok || n != name {
			t.Errorf("LanguageName(%d) = %s, %v", code, n, ok)
		}
	}
	if _, ok := LanguageName(13); ok {
		t.Error("LanguageName(13) should be unknown")
	}
}

// TestReadFrameInto: the body goes into the caller's buffer when it has the
// body's exact length, and into a fresh one otherwise; the callback sees
// the decoded header first.
func TestReadFrameInto(t *testing.T) {
	body := []byte("0123456789")
	req := NewRequest(SendMessageV2, FieldsOf("a", "group"), body)
	frame, err := req.EncodeFrame(nil, DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		size int // of the caller's buffer; -1: none
		own  bool
	}{
		{"exact", len(body), true},
		{"too small", len(body) - 1, false},
		{"too large", len(body) + 1, false},
		{"none", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var given []byte
			cmd, err := ReadFrameInto(bufio.NewReader(bytes.NewReader(frame)), 0, func(c *Command, n int) []byte {
				if c.Code != SendMessageV2 || c.Ext.Get("a") != "group" || n != len(body) {
					t.Errorf("callback saw code %d, ext %v, n %d", c.Code, c.Ext, n)
				}
				if tc.size >= 0 {
					given = make([]byte, tc.size)
				}
				return given
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cmd.Body, body) {
				t.Fatalf("body %q, want %q", cmd.Body, body)
			}
			if own := len(given) > 0 && &cmd.Body[0] == &given[0]; own != tc.own {
				t.Fatalf("body read into the caller's buffer: %v, want %v", own, tc.own)
			}
		})
	}
}
