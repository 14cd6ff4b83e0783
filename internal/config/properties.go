package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Property is one key/value pair of a properties file. Line is the 1-based
// line on which the logical line holding it starts (0 when the property did
// not come from a file).
type Property struct {
	Key   string
	Value string
	Line  int
}

// ParseProperties reads a Java-properties document (see the package comment
// for the syntax) and returns every key/value pair in file order, duplicates
// included: applying them in order makes the later duplicate win, as with
// java.util.Properties. The only syntax error is a malformed \uXXXX escape,
// reported as a *SyntaxError; read errors are returned wrapped.
func ParseProperties(r io.Reader) ([]Property, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	lr := lineReader{data: data, line: 1}
	var props []Property
	for {
		logical, line, ok := lr.next()
		if !ok {
			return props, nil
		}
		rawKey, rawValue := splitKeyValue(logical)
		key, err := unescape(rawKey)
		if err != nil {
			return nil, &SyntaxError{Line: line, Msg: err.Error()}
		}
		value, err := unescape(rawValue)
		if err != nil {
			return nil, &SyntaxError{Line: line, Msg: err.Error()}
		}
		props = append(props, Property{Key: key, Value: value, Line: line})
	}
}

// isBlank reports whether c separates tokens the way Java's Properties
// white space does (newlines are line ends, not blanks).
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// lineReader splits a document into logical lines: comments and blank lines
// dropped, continuation lines joined, each physical line's leading blanks
// removed. Escapes other than the continuation backslash are left in place.
type lineReader struct {
	data []byte
	pos  int
	line int // physical line number of data[pos]
}

// skipBlanks advances over blanks on the current physical line.
func (lr *lineReader) skipBlanks() {
	for lr.pos < len(lr.data) && isBlank(lr.data[lr.pos]) {
		lr.pos++
	}
}

// endOfLine advances to the next line end without consuming it and returns
// the bytes passed over.
func (lr *lineReader) endOfLine() []byte {
	start := lr.pos
	for lr.pos < len(lr.data) && lr.data[lr.pos] != '\n' && lr.data[lr.pos] != '\r' {
		lr.pos++
	}
	return lr.data[start:lr.pos]
}

// consumeNewline consumes one line end (LF, CR or CR LF) if present.
func (lr *lineReader) consumeNewline() {
	if lr.pos >= len(lr.data) {
		return
	}
	if lr.data[lr.pos] == '\r' && lr.pos+1 < len(lr.data) && lr.data[lr.pos+1] == '\n' {
		lr.pos++
	}
	lr.pos++
	lr.line++
}

// next returns the next logical line and the physical line it starts on.
func (lr *lineReader) next() ([]byte, int, bool) {
	for {
		lr.skipBlanks()
		if lr.pos >= len(lr.data) {
			return nil, 0, false
		}
		switch lr.data[lr.pos] {
		case '\n', '\r':
			lr.consumeNewline()
			continue
		case '#', '!':
			// A comment ends at its line end: a trailing backslash does not
			// continue it, as in Java.
			lr.endOfLine()
			lr.consumeNewline()
			continue
		}
		start := lr.line
		var logical []byte
		for {
			seg := lr.endOfLine()
			lr.consumeNewline()
			if trailingBackslashes(seg)%2 == 0 {
				return append(logical, seg...), start, true
			}
			// Continuation: drop the backslash and the next line's indent.
			// A line end right after that ends the logical line (Java does
			// not skip blank lines inside a continuation).
			logical = append(logical, seg[:len(seg)-1]...)
			lr.skipBlanks()
		}
	}
}

func trailingBackslashes(b []byte) int {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	return n
}

// splitKeyValue splits a logical line into its raw (still escaped) key and
// value: the key ends at the first unescaped '=', ':' or blank; blanks and
// at most one '=' or ':' separator are skipped before the value.
func splitKeyValue(line []byte) (key, value []byte) {
	keyEnd, valueStart := len(line), len(line)
	hasSep := false
	escaped := false
	for i, c := range line {
		if !escaped && (c == '=' || c == ':') {
			keyEnd, valueStart, hasSep = i, i+1, true
			break
		}
		if !escaped && isBlank(c) {
			keyEnd, valueStart = i, i+1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if isBlank(c) {
			valueStart++
			continue
		}
		if !hasSep && (c == '=' || c == ':') {
			hasSep = true
			valueStart++
			continue
		}
		break
	}
	return line[:keyEnd], line[valueStart:]
}

// unescape resolves backslash escapes. \uXXXX escapes are UTF-16 code units:
// a surrogate pair written as two escapes becomes one character and a lone
// surrogate becomes U+FFFD. Bytes that are not part of an escape are copied
// as they are, so non-ASCII UTF-8 text passes through unchanged.
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out.WriteByte(c)
			continue
		}
		i++
		if i >= len(b) {
			break // a lone trailing backslash is dropped, as Java does at EOF
		}
		switch c = b[i]; c {
		case 't':
			out.WriteByte('\t')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 'f':
			out.WriteByte('\f')
		case 'u':
			r, n, err := decodeUnicodeEscape(b[i+1:])
			if err != nil {
				return "", err
			}
			out.WriteRune(r)
			i += n
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), nil
}

// decodeUnicodeEscape decodes the XXXX after a "\u" (and, for a high
// surrogate, a following "\uXXXX" low surrogate). It returns the character
// and the number of bytes consumed after the first "\u".
func decodeUnicodeEscape(b []byte) (rune, int, error) {
	u, ok := hex4(b)
	if !ok {
		return 0, 0, fmt.Errorf("malformed \\uxxxx escape \"\\u%s\"", truncate(b, 4))
	}
	r := rune(u)
	if !utf16.IsSurrogate(r) {
		return r, 4, nil
	}
	if r < 0xDC00 && len(b) >= 10 && b[4] == '\\' && b[5] == 'u' {
		if lo, ok := hex4(b[6:]); ok {
			if pair := utf16.DecodeRune(r, rune(lo)); pair != utf8.RuneError {
				return pair, 10, nil
			}
		}
	}
	return utf8.RuneError, 4, nil
}

func hex4(b []byte) (uint16, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v uint16
	for _, c := range b[:4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	return v, true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// FormatProperties renders properties as "key=value" lines that
// ParseProperties (and java.util.Properties.load) read back to the same
// keys and values. Keys have blanks, separators, '#', '!' and backslashes
// escaped; values have backslashes, line ends and a leading blank escaped
// but keep ':' and '=' as they are, so addresses such as host:port stay
// readable in logs. Control characters become \uXXXX; other bytes,
// including non-ASCII UTF-8, are written as they are. Line fields are
// ignored.
func FormatProperties(props []Property) string {
	var sb strings.Builder
	for _, p := range props {
		writeEscaped(&sb, p.Key, true)
		sb.WriteByte('=')
		writeEscaped(&sb, p.Value, false)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func writeEscaped(sb *strings.Builder, s string, isKey bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\f':
			sb.WriteString(`\f`)
		case c == ' ' && (isKey || i == 0):
			sb.WriteString(`\ `)
		case isKey && (c == '=' || c == ':' || c == '#' || c == '!'):
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(sb, `\u%04X`, c)
		default:
			sb.WriteByte(c)
		}
	}
}
