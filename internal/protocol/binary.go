package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// rocketMQFixedLength is the fixed part of a ROCKETMQ header: code 2,
// language 1, version 2, opaque 4, flag 4, remark length 4, ext length 4.
const rocketMQFixedLength = 21

// ErrNotRepresentable is returned by AppendRocketMQHeader for a command the
// binary header cannot carry: code or version outside int16, or a key
// longer than 32767 bytes.
var ErrNotRepresentable = errors.New("protocol: command not representable in a ROCKETMQ header")

// DecodeRocketMQHeader decodes a ROCKETMQ binary header (serializeType 1)
// into a command without a body. Every length is checked against the bytes
// present before it is used. Errors wrap ErrMalformedFrame.
func DecodeRocketMQHeader(header []byte) (*Command, error) {
	cmd := newCommand()
	if err := decodeRocketMQ(string(header), cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

func be16(s string) uint16 { return uint16(s[0])<<8 | uint16(s[1]) }

func be32(s string) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

func binaryErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: ROCKETMQ header: %s", ErrMalformedFrame, fmt.Sprintf(format, args...))
}

func decodeRocketMQ(s string, cmd *Command) error {
	if len(s) < rocketMQFixedLength {
		return binaryErrorf("%d bytes, shorter than the %d-byte fixed part", len(s), rocketMQFixedLength)
	}
	cmd.Code = int32(int16(be16(s[0:])))
	lang, ok := LanguageName(s[2])
	if !ok {
		lang = LanguageOther
	}
	cmd.Language = lang
	cmd.Version = int32(int16(be16(s[3:])))
	cmd.Opaque = int32(be32(s[5:]))
	cmd.Flag = int32(be32(s[9:]))
	pos := 13
	remarkLen := int64(int32(be32(s[pos:])))
	pos += 4
	// The ext length field must still fit after the remark.
	if remarkLen < 0 || remarkLen > int64(len(s)-pos-4) {
		return binaryErrorf("remark length %d does not fit the %d bytes left", remarkLen, len(s)-pos-4)
	}
	cmd.Remark = s[pos : pos+int(remarkLen)]
	pos += int(remarkLen)
	extLen := int64(int32(be32(s[pos:])))
	pos += 4
	if extLen < 0 || extLen > int64(len(s)-pos) {
		return binaryErrorf("extFields length %d does not fit the %d bytes left", extLen, len(s)-pos)
	}
	// Bytes after the map are ignored, as Java's decoder ignores them.
	nulls, err := decodeRocketMQMap(s[pos:pos+int(extLen)], cmd)
	if err != nil {
		return err
	}
	cmd.Ext = cmd.Ext.dedupe(nulls)
	cmd.SerializeType = RocketMQ
	return nil
}

// decodeRocketMQMap appends the map entries to cmd.Ext and returns the
// indices of entries with empty values, which Java decodes as null.
func decodeRocketMQMap(m string, cmd *Command) (nulls []int, err error) {
	for len(m) > 0 {
		if len(m) < 2 {
			return nil, binaryErrorf("extFields entry truncated in its key length")
		}
		keyLen := int(int16(be16(m)))
		m = m[2:]
		if keyLen < 0 || keyLen > len(m) {
			return nil, binaryErrorf("extFields key length %d does not fit the %d bytes left", keyLen, len(m))
		}
		key := m[:keyLen]
		m = m[keyLen:]
		if len(m) < 4 {
			return nil, binaryErrorf("extFields entry %q truncated in its value length", key)
		}
		valueLen := int64(int32(be32(m)))
		m = m[4:]
		if valueLen < 0 || valueLen > int64(len(m)) {
			return nil, binaryErrorf("extFields value length %d of %q does not fit the %d bytes left", valueLen, key, len(m))
		}
		value := m[:valueLen]
		m = m[valueLen:]
		// Java decodes an empty key or value as null. A null key has no
		// place in Fields; a null value removes the key.
		if keyLen == 0 {
			continue
		}
		if valueLen == 0 {
			nulls = append(nulls, len(cmd.Ext))
		}
		cmd.Ext = append(cmd.Ext, Field{key, value})
	}
	return nulls, nil
}

// rocketMQRepresentable reports whether c fits a ROCKETMQ header.
func rocketMQRepresentable(c *Command) bool {
	if c.Code != int32(int16(c.Code)) || c.Version != int32(int16(c.Version)) {
		return false
	}
	if int64(len(c.Remark)) > math.MaxInt32 {
		return false
	}
	size := int64(0)
	for _, kv := range c.Ext {
		if len(kv.Key) > math.MaxInt16 || int64(len(kv.Value)) > math.MaxInt32 {
			return false
		}
		size += 6 + int64(len(kv.Key)) + int64(len(kv.Value))
	}
	return size <= math.MaxInt32
}

// AppendRocketMQHeader appends c's header in the ROCKETMQ binary form. A
// language name without a byte code is written as OTHER.
func AppendRocketMQHeader(dst []byte, c *Command) ([]byte, error) {
	if !rocketMQRepresentable(c) {
		return dst, fmt.Errorf("%w: code %d, version %d", ErrNotRepresentable, c.Code, c.Version)
	}
	return appendRocketMQ(dst, c), nil
}

func appendRocketMQ(dst []byte, c *Command) []byte {
	lang, ok := LanguageCode(c.Language)
	if !ok {
		lang, _ = LanguageCode(LanguageOther)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, lang)
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, kv := range c.Ext {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(kv.Key)))
		dst = append(dst, kv.Key...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(kv.Value)))
		dst = append(dst, kv.Value...)
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst
}
