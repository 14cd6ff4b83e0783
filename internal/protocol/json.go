package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON header codec is hand-written: it runs once per frame on the send
// and pull paths, where encoding/json's reflection would dominate. The decoder
// works on a string copy of the header so that every key and value without
// escapes is a substring of it: one allocation for all strings.

// maxJSONDepth bounds nesting in skipped members, so a hostile header of
// millions of '[' cannot exhaust the stack.
const maxJSONDepth = 512

// inlineFields is how many extFields a decoded command holds without a
// second allocation; a SEND_MESSAGE request has about fourteen.
const inlineFields = 16

// commandAlloc puts a command and room for its extFields in one allocation.
type commandAlloc struct {
	cmd Command
	ext [inlineFields]Field
}

func newCommand() *Command {
	a := &commandAlloc{}
	a.cmd.Ext = a.ext[:0]
	return &a.cmd
}

// DecodeJSONHeader decodes a JSON header (serializeType 0) into a command
// without a body. Errors wrap ErrMalformedFrame.
func DecodeJSONHeader(header []byte) (*Command, error) {
	cmd := newCommand()
	if err := decodeJSON(string(header), cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// AppendJSONHeader appends c's header in JSON, the form every RocketMQ peer
// reads: extFields values are JSON strings, code and version JSON integers,
// remark omitted when empty (as Java omits null).
func AppendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	dst = appendJSONString(dst, c.Language)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	if c.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = appendJSONString(dst, c.Remark)
	}
	// Always an object: Java dereferences extFields of some responses
	// without a null check.
	dst = append(dst, `,"extFields":{`...)
	for i, kv := range c.Ext {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, kv.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, kv.Value)
	}
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON text.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainByte marks the bytes a JSON string holds as they are: printable
// ASCII other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// jsonDecoder is a cursor over one JSON header.
type jsonDecoder struct {
	s     string
	pos   int
	nulls []int // indices in cmd.Ext of keys set to null
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: JSON header at byte %d: %s", ErrMalformedFrame, d.pos, fmt.Sprintf(format, args...))
}

func decodeJSON(s string, cmd *Command) error {
	d := jsonDecoder{s: s}
	d.skipSpace()
	if !d.consume('{') {
		return d.errorf("header is not a JSON object")
	}
	d.skipSpace()
	if !d.consume('}') {
		if err := d.members(cmd); err != nil {
			return err
		}
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return d.errorf("unexpected data after the header object")
	}
	cmd.Ext = cmd.Ext.dedupe(d.nulls)
	cmd.SerializeType = JSON
	return nil
}

// members decodes the members of the header object after its '{'.
func (d *jsonDecoder) members(cmd *Command) error {
	for {
		d.skipSpace()
		key, err := d.str()
		if err != nil {
			return err
		}
		d.skipSpace()
		if !d.consume(':') {
			return d.errorf("expected ':' after member %q", key)
		}
		d.skipSpace()
		if err := d.member(key, cmd); err != nil {
			return err
		}
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return d.errorf("expected ',' or '}' after member %q", key)
	}
}

// Header members known to the decoder.
const (
	memberUnknown = iota
	memberCode
	memberLanguage
	memberVersion
	memberOpaque
	memberFlag
	memberRemark
	memberExtFields
)

var memberNames = [...]string{
	memberCode: "code", memberLanguage: "language", memberVersion: "version",
	memberOpaque: "opaque", memberFlag: "flag", memberRemark: "remark",
	memberExtFields: "extFields",
}

// memberOf names a member; like fastjson and encoding/json it falls back to
// a case-insensitive match.
func memberOf(key string) int {
	switch key {
	case "code":
		return memberCode
	case "language":
		return memberLanguage
	case "version":
		return memberVersion
	case "opaque":
		return memberOpaque
	case "flag":
		return memberFlag
	case "remark":
		return memberRemark
	case "extFields":
		return memberExtFields
	}
	for m, name := range memberNames {
		if name != "" && strings.EqualFold(key, name) {
			return m
		}
	}
	return memberUnknown
}

// member decodes one member value. null leaves a scalar unchanged (as
// encoding/json and fastjson do) and clears extFields.
func (d *jsonDecoder) member(key string, cmd *Command) error {
	m := memberOf(key)
	if m == memberUnknown {
		return d.skipValue(0)
	}
	if d.literal("null") {
		if m == memberExtFields {
			cmd.Ext = cmd.Ext[:0]
			d.nulls = d.nulls[:0]
		}
		return nil
	}
	var err error
	switch m {
	case memberCode:
		cmd.Code, err = d.int32Value(key)
	case memberVersion:
		cmd.Version, err = d.int32Value(key)
	case memberOpaque:
		cmd.Opaque, err = d.int32Value(key)
	case memberFlag:
		cmd.Flag, err = d.int32Value(key)
	case memberLanguage:
		cmd.Language, err = d.stringValue(key)
	case memberRemark:
		cmd.Remark, err = d.stringValue(key)
	case memberExtFields:
		err = d.extFields(cmd)
	}
	return err
}

func (d *jsonDecoder) int32Value(key string) (int32, error) {
	start := d.pos
	lit, err := d.number()
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(lit, 10, 32)
	if perr != nil {
		d.pos = start
		return 0, d.errorf("member %q: %s is not a 32-bit integer", key, lit)
	}
	return int32(n), nil
}

func (d *jsonDecoder) stringValue(key string) (string, error) {
	if d.peek() != '"' {
		return "", d.errorf("member %q must be a string", key)
	}
	return d.str()
}

// extFields appends the members of an extFields object to cmd.Ext. Values
// may be strings, numbers or booleans (kept as their JSON text); a null
// value removes the key, as Java treats a null header field as absent.
func (d *jsonDecoder) extFields(cmd *Command) error {
	if !d.consume('{') {
		return d.errorf("extFields must be an object")
	}
	d.skipSpace()
	if d.consume('}') {
		return nil
	}
	for {
		d.skipSpace()
		key, err := d.str()
		if err != nil {
			return err
		}
		d.skipSpace()
		if !d.consume(':') {
			return d.errorf("expected ':' after extFields key %q", key)
		}
		d.skipSpace()
		var value string
		switch c := d.peek(); {
		case c == '"':
			value, err = d.str()
		case c == '-' || (c >= '0' && c <= '9'):
			value, err = d.number()
		case d.literal("true"):
			value = "true"
		case d.literal("false"):
			value = "false"
		case d.literal("null"):
			d.nulls = append(d.nulls, len(cmd.Ext))
		default:
			err = d.errorf("extFields value of %q must be a string, number or boolean", key)
		}
		if err != nil {
			return err
		}
		cmd.Ext = append(cmd.Ext, Field{key, value})
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return d.errorf("expected ',' or '}' after extFields key %q", key)
	}
}

func (d *jsonDecoder) peek() byte {
	if d.pos < len(d.s) {
		return d.s[d.pos]
	}
	return 0
}

func (d *jsonDecoder) consume(c byte) bool {
	if d.pos < len(d.s) && d.s[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *jsonDecoder) literal(lit string) bool {
	if strings.HasPrefix(d.s[d.pos:], lit) {
		d.pos += len(lit)
		return true
	}
	return false
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// number consumes a JSON number and returns its text.
func (d *jsonDecoder) number() (string, error) {
	s, start, i := d.s, d.pos, d.pos
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return "", d.errorf("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return "", d.errorf("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return "", d.errorf("invalid number")
		}
	}
	d.pos = i
	return s[start:i], nil
}

// str consumes a JSON string. Without escapes and with valid UTF-8 the
// result is a substring of the header: no allocation.
func (d *jsonDecoder) str() (string, error) {
	if d.peek() != '"' {
		return "", d.errorf("expected a string")
	}
	s, start := d.s, d.pos+1
	ascii := true
	for i := start; i < len(s); i++ {
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			v := s[start:i]
			if !ascii && !utf8.ValidString(v) {
				return d.strSlow(start)
			}
			d.pos = i + 1
			return v, nil
		case c == '\\':
			return d.strSlow(start)
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character 0x%02x in string", c)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.pos = len(s)
	return "", d.errorf("unterminated string")
}

// strSlow decodes a string with escapes or invalid UTF-8, replacing bad
// bytes and unpaired surrogates with U+FFFD as encoding/json does.
func (d *jsonDecoder) strSlow(start int) (string, error) {
	s := d.s
	// Escapes only shrink, so the encoded length is enough room unless bad
	// bytes turn into 3-byte U+FFFD; one allocation either way in practice.
	var b strings.Builder
	b.Grow(encodedStringLen(s[start:]))
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b.String(), nil
		case c == '\\':
			if i+1 >= len(s) {
				d.pos = len(s)
				return "", d.errorf("unterminated string")
			}
			i += 2
			switch e := s[i-1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := hex4(s[i:])
				if r < 0 {
					d.pos = i - 2
					return "", d.errorf("invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if strings.HasPrefix(s[i:], `\u`) {
						r2 = hex4(s[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
			default:
				d.pos = i - 2
				return "", d.errorf("invalid escape \\%c", e)
			}
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(s) && plainByte[s[j]] {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
	}
	d.pos = len(s)
	return "", d.errorf("unterminated string")
}

// encodedStringLen returns the length of the string body at the start of s,
// up to its closing quote (or the end of s).
func encodedStringLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s)
}

// hex4 parses four hex digits, or returns -1.
func hex4(s string) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipValue consumes and validates any JSON value.
func (d *jsonDecoder) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return d.errorf("nesting deeper than %d", maxJSONDepth)
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		return d.skipComposite('}', depth, true)
	case c == '[':
		return d.skipComposite(']', depth, false)
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := d.number()
		return err
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	}
	return d.errorf("invalid value")
}

// skipComposite skips an object (keyed) or array after checking its opener.
func (d *jsonDecoder) skipComposite(closer byte, depth int, keyed bool) error {
	d.pos++
	d.skipSpace()
	if d.consume(closer) {
		return nil
	}
	for {
		d.skipSpace()
		if keyed {
			if _, err := d.str(); err != nil {
				return err
			}
			d.skipSpace()
			if !d.consume(':') {
				return d.errorf("expected ':'")
			}
			d.skipSpace()
		}
		if err := d.skipValue(depth + 1); err != nil {
			return err
		}
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume(closer) {
			return nil
		}
		return d.errorf("expected ',' or '%c'", closer)
	}
}
