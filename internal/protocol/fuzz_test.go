package protocol

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdHeader is the header as encoding/json sees it: the reference for the
// hand-written decoder.
type stdHeader struct {
	Code      int32             `json:"code"`
	Language  string            `json:"language"`
	Version   int32             `json:"version"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Remark    string            `json:"remark"`
	ExtFields map[string]string `json:"extFields"`
}

// checkAgainstStd fails if encoding/json accepts data but our decoder
// disagrees. A JSON null extFields value is "" for encoding/json and absent
// for us (Java's null), the only intended difference.
func checkAgainstStd(t *testing.T, data []byte) {
	t.Helper()
	var std stdHeader
	if json.Unmarshal(data, &std) != nil {
		return
	}
	if string(bytes.TrimSpace(data)) == "null" {
		return // a null header is a no-op to encoding/json, an error to Java and us
	}
	got, err := DecodeJSONHeader(data)
	if err != nil {
		if strings.Contains(err.Error(), "nesting deeper") {
			return // encoding/json allows deeper nesting in skipped members
		}
		t.Fatalf("encoding/json accepts %q, we fail: %v", data, err)
	}
	stdExt := std.ExtFields
	std.ExtFields = nil
	if gotStd := (stdHeader{got.Code, got.Language, got.Version, got.Opaque, got.Flag, got.Remark, nil}); !reflect.DeepEqual(gotStd, std) {
		t.Fatalf("decoding %q\n got %+v\nwant %+v", data, gotStd, std)
	}
	for _, kv := range got.Ext {
		if v, ok := stdExt[kv.Key]; !ok || v != kv.Value {
			t.Fatalf("decoding %q: ext %q = %q, encoding/json has %q (%v)", data, kv.Key, kv.Value, v, ok)
		}
	}
	for k, v := range stdExt {
		if _, ok := got.Ext.Lookup(k); !ok && v != "" {
			t.Fatalf("decoding %q: ext %q missing, encoding/json has %q", data, k, v)
		}
	}
}

// checkJSONRoundTrip re-encodes a decoded header and checks that both we
// and encoding/json read back the same command.
func checkJSONRoundTrip(t *testing.T, c *Command) {
	t.Helper()
	enc := AppendJSONHeader(nil, c)
	back, err := DecodeJSONHeader(enc)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", enc, err)
	}
	assertEqualCommand(t, back, c)
	var std stdHeader
	if err := json.Unmarshal(enc, &std); err != nil {
		t.Fatalf("encoding/json rejects our output %s: %v", enc, err)
	}
	if len(std.ExtFields) != len(c.Ext) || std.Code != c.Code || std.Remark != c.Remark || std.Language != c.Language {
		t.Fatalf("encoding/json reads %s as %+v", enc, std)
	}
	for _, kv := range c.Ext {
		if std.ExtFields[kv.Key] != kv.Value {
			t.Fatalf("encoding/json reads ext %q as %q, want %q", kv.Key, std.ExtFields[kv.Key], kv.Value)
		}
	}
}

// headerGen writes random, valid JSON headers exercising whitespace, member
// order, case, escapes, surrogates, unknown members and duplicates.
type headerGen struct {
	r *rand.Rand
	b strings.Builder
}

func (g *headerGen) ws() {
	for range g.r.IntN(3) {
		g.b.WriteByte(" \t\r\n"[g.r.IntN(4)])
	}
}

func (g *headerGen) str() {
	runes := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', 0, 0x1f, 0x7f, 'é', '中', 0xFFFD, 0x1F600, 0x10FFFF, 0xD800}
	g.b.WriteByte('"')
	for range g.r.IntN(8) {
		r := runes[g.r.IntN(len(runes))]
		switch {
		case r == 0xD800: // a lone surrogate escape
			g.b.WriteString(`\ud800`)
		case r < 0x20 || r == '"' || r == '\\' || g.r.IntN(4) == 0:
			if r > 0xFFFF {
				r -= 0x10000
				fmt.Fprintf(&g.b, `\u%04x\u%04X`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else if g.r.IntN(2) == 0 && (r == '"' || r == '\\' || r == '/' || r == '\n' || r == '\t') {
				g.b.WriteString(map[rune]string{'"': `\"`, '\\': `\\`, '/': `\/`, '\n': `\n`, '\t': `\t`}[r])
			} else {
				fmt.Fprintf(&g.b, `\u%04x`, r)
			}
		default:
			g.b.WriteRune(r)
		}
	}
	g.b.WriteByte('"')
}

func (g *headerGen) value(depth int) {
	switch n := g.r.IntN(8); {
	case n == 0 && depth < 3:
		g.b.WriteByte('[')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.b.WriteByte(']')
	case n == 1 && depth < 3:
		g.b.WriteByte('{')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.str()
			g.b.WriteByte(':')
			g.value(depth + 1)
		}
		g.b.WriteByte('}')
	case n == 2:
		g.b.WriteString([]string{"true", "false", "null"}[g.r.IntN(3)])
	case n == 3:
		g.b.WriteString([]string{"0", "-1", "1.5", "-2.5e-3", "1E+9", "123456789012345678901234567890"}[g.r.IntN(6)])
	default:
		g.str()
	}
}

func (g *headerGen) header() []byte {
	g.b.Reset()
	names := []string{"code", "language", "version", "opaque", "flag", "remark", "extFields", "serializeTypeCurrentRPC", "x"}
	g.ws()
	g.b.WriteByte('{')
	for i := range g.r.IntN(10) {
		if i > 0 {
			g.b.WriteByte(',')
		}
		g.ws()
		name := names[g.r.IntN(len(names))]
		if g.r.IntN(5) == 0 {
			name = strings.ToUpper(name)
		}
		fmt.Fprintf(&g.b, "%q", name)
		g.ws()
		g.b.WriteByte(':')
		g.ws()
		switch strings.ToLower(name) {
		case "code", "version", "opaque", "flag":
			if g.r.IntN(6) == 0 {
				g.b.WriteString("null")
			} else {
				fmt.Fprint(&g.b, int32(g.r.Uint32()))
			}
		case "language", "remark":
			if g.r.IntN(6) == 0 {
				g.b.WriteString("null")
			} else {
				g.str()
			}
		case "extfields":
			if g.r.IntN(6) == 0 {
				g.b.WriteString("null")
				break
			}
			g.b.WriteByte('{')
			for j := range g.r.IntN(6) {
				if j > 0 {
					g.b.WriteByte(',')
				}
				g.ws()
				if g.r.IntN(3) == 0 {
					g.b.WriteString([]string{`"k"`, `"topic"`}[g.r.IntN(2)])
				} else {
					g.str()
				}
				g.b.WriteByte(':')
				g.ws()
				if g.r.IntN(8) == 0 {
					g.b.WriteString("null")
				} else {
					g.str()
				}
			}
			g.b.WriteByte('}')
		default:
			g.value(0)
		}
		g.ws()
	}
	g.b.WriteByte('}')
	g.ws()
	return []byte(g.b.String())
}

func TestJSONDecoderAgainstEncodingJSON(t *testing.T) {
	g := &headerGen{r: rand.New(rand.NewPCG(1, 2))}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	accepted := 0
	for range n {
		data := g.header()
		if !json.Valid(data) {
			t.Fatalf("generator wrote invalid JSON %q", data)
		}
		checkAgainstStd(t, data)
		if c, err := DecodeJSONHeader(data); err == nil {
			accepted++
			checkJSONRoundTrip(t, c)
		}
	}
	if accepted < n*3/4 {
		t.Fatalf("only %d of %d generated headers decoded", accepted, n)
	}
}

func jsonSeeds() []string {
	return []string{
		goPullRequestJSON, javaSendReplyJSON, `{}`, `{"extFields":null}`, `{"remark":null,"extFields":{}}`,
		`{"code":10,"extFields":{"a":5,"b":true,"c":null}}`, `{"remark":"\ud83d\ude00\ud800x\u00e9"}`,
		`{"x":[{"y":[1,2,{"z":null}]}],"CODE":3}`, `{"code":1e2}`, "{\"remark\":\"\xff\"}",
	}
}

func FuzzJSONHeader(f *testing.F) {
	for _, s := range jsonSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstStd(t, data)
		c, err := DecodeJSONHeader(data)
		if err != nil {
			return
		}
		if !utf8.ValidString(c.Remark) || !utf8.ValidString(c.Language) {
			t.Fatalf("decoded strings must be valid UTF-8: %+v", c)
		}
		checkJSONRoundTrip(t, c)
	})
}

func FuzzRocketMQHeader(f *testing.F) {
	golden, _ := hex.DecodeString(binaryHeaderHex)
	f.Add(golden)
	f.Add(make([]byte, 21))
	f.Add([]byte("\x00\x0a\x09\x01\x3d\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x00\x07\x00\x01a\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeRocketMQHeader(data)
		if err != nil {
			return
		}
		enc, err := AppendRocketMQHeader(nil, c)
		if err != nil {
			t.Fatalf("a decoded header must re-encode: %v", err)
		}
		back, err := DecodeRocketMQHeader(enc)
		if err != nil {
			t.Fatalf("re-decoding %x: %v", enc, err)
		}
		assertEqualCommand(t, back, c)
		if again, _ := AppendRocketMQHeader(nil, back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable: %x then %x", enc, again)
		}
	})
}

// fuzzFrameLimit is small so that any allocation driven by a claimed length
// rather than by bytes present stands out against allocBound.
const (
	fuzzFrameLimit = 1 << 16
	allocBound     = 4 << 20
)

func FuzzReadFrame(f *testing.F) {
	req, _ := DecodeJSONHeader([]byte(goPullRequestJSON))
	req.Body = []byte("body")
	f.Add(req.AppendFrame(nil))
	bin := *req
	bin.SerializeType = RocketMQ
	f.Add(bin.AppendFrame(nil))
	f.Add(append(req.AppendFrame(nil), bin.AppendFrame(nil)...))
	f.Add(frame(9, 2, "[]abc"))
	f.Add(frame(16<<20-4, 2, "{}"))
	f.Add(frame(40, 1<<24|30, strings.Repeat("\x00", 30)))
	f.Add(frame(6, 2<<24|2, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		for {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, err := ReadFrame(r, fuzzFrameLimit)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > allocBound {
				t.Fatalf("ReadFrame allocated %d bytes with a %d-byte limit", n, fuzzFrameLimit)
			}
			if err != nil {
				return
			}
			enc := c.AppendFrame(nil)
			back, err := ReadFrame(bufio.NewReader(bytes.NewReader(enc)), 0)
			if err != nil {
				t.Fatalf("re-reading %x: %v", enc, err)
			}
			assertEqualCommand(t, back, c)
		}
	})
}
