package message

import "unicode/utf8"

// TagsHashCode is the consume-queue tag code of a tag: Java's
// String.hashCode (31*h + c over UTF-16 code units, 32-bit overflow),
// sign-extended. Clients send codes computed over UTF-8 bytes (the Go
// client), so the broker recomputes them from tag strings with this function.
func TagsHashCode(tags []byte) int64 {
	var h int32
	for i := 0; i < len(tags); {
		c := tags[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(tags[i:])
		i += n
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return int64(h)
}

// TagsHashCodeString is TagsHashCode for a string.
func TagsHashCodeString(tags string) int64 {
	var h int32
	for _, r := range tags {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return int64(h)
}
