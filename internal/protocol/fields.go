package protocol

import (
	"strconv"
	"strings"
)

// Field is one extFields entry.
type Field struct {
	Key, Value string
}

// Fields holds a command's extFields in insertion order, which is also the
// encoding order. A slice beats a map here: a header has about fifteen keys,
// so a linear scan is cheaper than hashing and decoding allocates nothing per
// key. Keys are unique when the fields are built with Set; decoders keep the
// last of duplicate keys, at the position of the first.
type Fields []Field

// FieldsOf returns fields from alternating keys and values; it panics on an
// odd count. Later duplicates replace earlier ones.
func FieldsOf(keyValues ...string) Fields {
	if len(keyValues)%2 != 0 {
		panic("protocol.FieldsOf: odd number of arguments")
	}
	f := make(Fields, 0, len(keyValues)/2)
	for i := 0; i < len(keyValues); i += 2 {
		f.Set(keyValues[i], keyValues[i+1])
	}
	return f
}

// Get returns the value of key, or "" if it is absent.
func (f Fields) Get(key string) string {
	v, _ := f.Lookup(key)
	return v
}

// Lookup returns the value of key and whether it is present.
func (f Fields) Lookup(key string) (string, bool) {
	for i := range f {
		if f[i].Key == key {
			return f[i].Value, true
		}
	}
	return "", false
}

// Has reports whether key is present.
func (f Fields) Has(key string) bool {
	_, ok := f.Lookup(key)
	return ok
}

// Set sets key to value, replacing an existing value in place.
func (f *Fields) Set(key, value string) {
	for i := range *f {
		if (*f)[i].Key == key {
			(*f)[i].Value = value
			return
		}
	}
	*f = append(*f, Field{key, value})
}

// SetInt sets key to the decimal form of v.
func (f *Fields) SetInt(key string, v int64) { f.Set(key, strconv.FormatInt(v, 10)) }

// SetBool sets key to "true" or "false".
func (f *Fields) SetBool(key string, v bool) { f.Set(key, strconv.FormatBool(v)) }

// Del removes key, keeping the order of the others.
func (f *Fields) Del(key string) {
	for i := range *f {
		if (*f)[i].Key == key {
			*f = append((*f)[:i], (*f)[i+1:]...)
			return
		}
	}
}

// Clone returns a copy that shares no storage with f.
func (f Fields) Clone() Fields {
	if f == nil {
		return nil
	}
	return append(make(Fields, 0, len(f)), f...)
}

// Map returns the fields as a map (for tests and logs).
func (f Fields) Map() map[string]string {
	m := make(map[string]string, len(f))
	for _, kv := range f {
		m[kv.Key] = kv.Value
	}
	return m
}

// String formats the fields as {k=v, ...}.
func (f Fields) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range f {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// smallFieldCount is where dedupe switches from pairwise comparison to a map,
// so a hostile header with a million keys costs linear, not quadratic, time.
const smallFieldCount = 32

// dedupe makes keys unique after decoding: the last value wins and keeps the
// first key's position, as a map-based Java or Go decoder would see it.
// nulls lists the indices of entries that stood for Java null values (a JSON
// null, an empty binary value): like map.put(key, null) they remove the key.
func (f Fields) dedupe(nulls []int) Fields {
	if len(nulls) > 0 || len(f) > smallFieldCount {
		return f.dedupeLarge(nulls)
	}
	// Duplicates are rare: look before rewriting, as every rewritten
	// entry costs write barriers.
	for i := 1; i < len(f); i++ {
		for j := range i {
			if f[j].Key == f[i].Key {
				return f.dedupeSmall()
			}
		}
	}
	return f
}

func (f Fields) dedupeSmall() Fields {
	out := f[:0]
next:
	for _, kv := range f {
		for i := range out {
			if out[i].Key == kv.Key {
				out[i].Value = kv.Value
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func (f Fields) dedupeLarge(nulls []int) Fields {
	isNull := make([]bool, len(f))
	for _, i := range nulls {
		isNull[i] = true
	}
	index := make(map[string]int, len(f))
	out := f[:0]
	for i, kv := range f {
		if j, ok := index[kv.Key]; ok {
			out[j].Value = kv.Value
			isNull[j] = isNull[i]
			continue
		}
		index[kv.Key] = len(out)
		isNull[len(out)] = isNull[i]
		out = append(out, kv)
	}
	kept := out[:0]
	for i, kv := range out {
		if !isNull[i] {
			kept = append(kept, kv)
		}
	}
	return kept
}
