package message

import "bytes"

// Separators of the properties string.
const (
	NameValueSeparator = 0x01
	PropertySeparator  = 0x02
)

// PropertyIter walks an encoded properties string without allocating. It
// follows the Java reader: a pair is kept only if it has a non-empty name
// and a non-empty value; items without a name-value separator are skipped.
type PropertyIter struct{ rest []byte }

// NewPropertyIter starts a walk over props.
func NewPropertyIter(props []byte) PropertyIter { return PropertyIter{rest: props} }

// Next returns the next pair, or ok=false at the end.
func (it *PropertyIter) Next() (name, value []byte, ok bool) {
	for len(it.rest) > 0 {
		item := it.rest
		if i := bytes.IndexByte(it.rest, PropertySeparator); i >= 0 {
			item, it.rest = it.rest[:i], it.rest[i+1:]
		} else {
			it.rest = nil
		}
		j := bytes.IndexByte(item, NameValueSeparator)
		if j <= 0 || j == len(item)-1 {
			continue
		}
		return item[:j], item[j+1:], true
	}
	return nil, nil, false
}

// RangeProperties calls fn for each name/value pair of an encoded properties
// string, in order, until fn returns false (see PropertyIter).
func RangeProperties(props []byte, fn func(name, value []byte) bool) {
	it := NewPropertyIter(props)
	for {
		n, v, ok := it.Next()
		if !ok || !fn(n, v) {
			return
		}
	}
}

// LookupProperty returns the value of name in an encoded properties string.
// If the name occurs more than once, the last occurrence wins (as when the
// Java reader fills a map).
func LookupProperty(props []byte, name string) (value []byte, ok bool) {
	RangeProperties(props, func(n, v []byte) bool {
		if string(n) == name {
			value, ok = v, true
		}
		return true
	})
	return value, ok
}

// AppendProperty appends one name/value pair, followed by a separator, to
// an encoded properties string.
func AppendProperty(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, NameValueSeparator)
	dst = append(dst, value...)
	return append(dst, PropertySeparator)
}

// AppendPropertiesWithout appends the pairs of props to dst, leaving out the
// named properties, normalised to end with a separator.
func AppendPropertiesWithout(dst, props []byte, omit ...string) []byte {
	RangeProperties(props, func(n, v []byte) bool {
		for _, o := range omit {
			if string(n) == o {
				return true
			}
		}
		dst = append(dst, n...)
		dst = append(dst, NameValueSeparator)
		dst = append(dst, v...)
		dst = append(dst, PropertySeparator)
		return true
	})
	return dst
}

// ParseProperties decodes an encoded properties string into a map. Names
// and values are substrings of one copy of props: one allocation for the
// strings instead of two per property (a consumer decodes every message's
// properties, and the per-property strings were most of its decoding).
func ParseProperties(props []byte) map[string]string {
	m := make(map[string]string, bytes.Count(props, []byte{PropertySeparator})+1)
	s := string(props)
	it := NewPropertyIter(props)
	for {
		n, v, ok := it.Next()
		if !ok {
			return m
		}
		// n and v are subslices of props; their offsets follow from how
		// much capacity they have left.
		ni, vi := cap(props)-cap(n), cap(props)-cap(v)
		m[s[ni:ni+len(n)]] = s[vi : vi+len(v)]
	}
}

// EncodeProperties encodes pairs in the given order (name, value, name,
// value, ...). Pairs with an empty name or value are skipped, as readers
// would drop them.
func EncodeProperties(dst []byte, pairs ...string) []byte {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == "" || pairs[i+1] == "" {
			continue
		}
		dst = AppendProperty(dst, pairs[i], pairs[i+1])
	}
	return dst
}

// RangeKeys calls fn for each key of a KEYS property value (space-separated,
// empty keys skipped).
func RangeKeys(keys []byte, fn func(key []byte)) {
	for len(keys) > 0 {
		i := bytes.IndexByte(keys, ' ')
		var k []byte
		if i < 0 {
			k, keys = keys, nil
		} else {
			k, keys = keys[:i], keys[i+1:]
		}
		if len(k) > 0 {
			fn(k)
		}
	}
}
