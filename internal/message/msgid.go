package message

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
)

const hexUpper = "0123456789ABCDEF"

// AppendOffsetMsgID appends the offset message id of the record stored at
// physOffset by storeHost: upper-case hex of IP ‖ port (int32) ‖ offset
// (int64), 32 characters for IPv4 and 56 for IPv6.
func AppendOffsetMsgID(dst []byte, storeHost netip.AddrPort, physOffset int64) []byte {
	var raw [28]byte
	n := putHost(raw[:], storeHost)
	binary.BigEndian.PutUint64(raw[n:], uint64(physOffset))
	for _, b := range raw[:n+8] {
		dst = append(dst, hexUpper[b>>4], hexUpper[b&0xF])
	}
	return dst
}

// OffsetMsgID returns the offset message id as a string.
func OffsetMsgID(storeHost netip.AddrPort, physOffset int64) string {
	return string(AppendOffsetMsgID(make([]byte, 0, 56), storeHost, physOffset))
}

// ParseOffsetMsgID decodes an offset message id into the store host and the
// commit-log offset.
func ParseOffsetMsgID(id string) (netip.AddrPort, int64, error) {
	var raw [28]byte
	switch len(id) {
	case 32, 56:
	default:
		return netip.AddrPort{}, 0, fmt.Errorf("message id %q: length %d, want 32 (IPv4) or 56 (IPv6)", id, len(id))
	}
	n, err := hex.Decode(raw[:], []byte(id))
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("message id %q: %w", id, err)
	}
	portAt := 4
	if n == 28 {
		portAt = 16
	}
	if port := binary.BigEndian.Uint32(raw[portAt:]); port > 65535 {
		return netip.AddrPort{}, 0, fmt.Errorf("message id %q: port %d out of range", id, port)
	}
	host := getHost(raw[:], n == 28)
	off := int64(binary.BigEndian.Uint64(raw[n-8:]))
	if off < 0 {
		return netip.AddrPort{}, 0, fmt.Errorf("message id %q: negative offset", id)
	}
	return host, off, nil
}
