package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
)

// Record geometry.
const (
	// MaxTopicLength is the longest topic a v1 record can hold.
	MaxTopicLength = 127
	// MaxPropertiesLength is the longest properties string a record can hold.
	MaxPropertiesLength = 32767
	// MinBlankSize is the smallest blank filler: TOTALSIZE and MAGICCODE.
	MinBlankSize = 8
	// fixedSizeV4 is TOTALSIZE with IPv4 hosts and empty body, topic and properties.
	fixedSizeV4 = 91
	offQueueID  = 12
	offFlag     = 16
	offQueueOff = 20
	offPhysOff  = 28
	offSysFlag  = 36
	offBornTime = 40
	offBornHost = 48

	magicCodeU32      uint32 = 0xDAA320A7
	blankMagicCodeU32 uint32 = 0xCBD43194
)

var (
	// ErrTruncated means the bytes end inside a record: a torn tail when it
	// happens at the end of written data.
	ErrTruncated = errors.New("record truncated")
	// ErrCorrupt means the bytes are not a valid record.
	ErrCorrupt = errors.New("record corrupt")
)

// Message is a message ready to be stored: what the broker builds from a send
// request and hands to the store (RocketMQ's MessageExtBrokerInner). The
// store assigns the queue offset, physical offset and store timestamp when it
// appends.
type Message struct {
	Topic                     string
	QueueID                   int32
	Flag                      int32
	SysFlag                   int32 // host-family bits are derived from the hosts
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Properties                []byte // encoded, see AppendProperty
	// TagsCode is the consume-queue tag code (TagsHashCode of TAGS, or 0).
	TagsCode int64
	// BodyCRC is BodyChecksum(Body); filled by PrepareEncode.
	BodyCRC int32
}

// BodyChecksum is the stored BODYCRC of body.
func BodyChecksum(body []byte) int32 {
	return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
}

func hostSize(a netip.AddrPort) int {
	if a.Addr().Is4() || a.Addr().Is4In6() || !a.IsValid() {
		return 8
	}
	return 20
}

// sysFlagFor sets the host-family bits of sysFlag to match the hosts.
func sysFlagFor(sysFlag int32, born, store netip.AddrPort) int32 {
	sysFlag &^= FlagBornHostV6 | FlagStoreHostV6
	if hostSize(born) == 20 {
		sysFlag |= FlagBornHostV6
	}
	if hostSize(store) == 20 {
		sysFlag |= FlagStoreHostV6
	}
	return sysFlag
}

// EncodedSize is the TOTALSIZE m will have when stored.
func (m *Message) EncodedSize() int {
	return fixedSizeV4 - 16 + hostSize(m.BornHost) + hostSize(m.StoreHost) +
		len(m.Body) + len(m.Topic) + len(m.Properties)
}

// Validate checks the limits of the record format.
func (m *Message) Validate() error {
	if len(m.Topic) == 0 || len(m.Topic) > MaxTopicLength {
		return fmt.Errorf("topic length %d not in 1..%d", len(m.Topic), MaxTopicLength)
	}
	if len(m.Properties) > MaxPropertiesLength {
		return fmt.Errorf("properties length %d over %d", len(m.Properties), MaxPropertiesLength)
	}
	if i := bytes.IndexByte(m.Properties, 0); i >= 0 {
		// See CheckText: a stored NUL would read as a torn record.
		return fmt.Errorf("properties hold a NUL byte at %d; property names and values must be text without NUL", i)
	}
	return nil
}

// PrepareEncode computes the body CRC. Call it before taking the commit
// log's lock so the lock covers only the copy.
func (m *Message) PrepareEncode() { m.BodyCRC = BodyChecksum(m.Body) }

// Encode writes m as a stored record into dst, which must be at least
// EncodedSize bytes, and returns the number of bytes written. PrepareEncode
// must have been called.
func (m *Message) Encode(dst []byte, queueOffset, physOffset, storeTimestamp int64) int {
	size := m.EncodedSize()
	b := dst[:size]
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(size))
	be.PutUint32(b[4:], magicCodeU32)
	be.PutUint32(b[8:], uint32(m.BodyCRC))
	be.PutUint32(b[offQueueID:], uint32(m.QueueID))
	be.PutUint32(b[offFlag:], uint32(m.Flag))
	be.PutUint64(b[offQueueOff:], uint64(queueOffset))
	be.PutUint64(b[offPhysOff:], uint64(physOffset))
	be.PutUint32(b[offSysFlag:], uint32(sysFlagFor(m.SysFlag, m.BornHost, m.StoreHost)))
	be.PutUint64(b[offBornTime:], uint64(m.BornTimestamp))
	p := offBornHost + putHost(b[offBornHost:], m.BornHost)
	be.PutUint64(b[p:], uint64(storeTimestamp))
	p += 8
	p += putHost(b[p:], m.StoreHost)
	be.PutUint32(b[p:], uint32(m.ReconsumeTimes))
	p += 4
	be.PutUint64(b[p:], uint64(m.PreparedTransactionOffset))
	p += 8
	be.PutUint32(b[p:], uint32(len(m.Body)))
	p += 4
	p += copy(b[p:], m.Body)
	b[p] = byte(len(m.Topic))
	p++
	p += copy(b[p:], m.Topic)
	be.PutUint16(b[p:], uint16(len(m.Properties)))
	p += 2
	copy(b[p:], m.Properties)
	return size
}

func putHost(b []byte, a netip.AddrPort) int {
	addr := a.Addr().Unmap()
	if hostSize(a) == 8 {
		ip := addr.As4()
		if !a.IsValid() {
			ip = [4]byte{}
		}
		copy(b, ip[:])
		binary.BigEndian.PutUint32(b[4:], uint32(a.Port()))
		return 8
	}
	ip := addr.As16()
	copy(b, ip[:])
	binary.BigEndian.PutUint32(b[16:], uint32(a.Port()))
	return 20
}

func getHost(b []byte, v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), uint16(binary.BigEndian.Uint32(b[16:])))
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(binary.BigEndian.Uint32(b[4:])))
}

// PutBlank writes a blank filler record of size bytes (at least
// MinBlankSize) at the start of dst.
func PutBlank(dst []byte, size int) {
	binary.BigEndian.PutUint32(dst[0:], uint32(size))
	binary.BigEndian.PutUint32(dst[4:], blankMagicCodeU32)
}

// Record is a view of one stored record whose structure has been checked
// by CheckRecord (or that this package encoded). Accessors do not copy.
type Record []byte

func (r Record) i32(off int) int32 { return int32(binary.BigEndian.Uint32(r[off:])) }
func (r Record) i64(off int) int64 { return int64(binary.BigEndian.Uint64(r[off:])) }

// TotalSize is the record's TOTALSIZE.
func (r Record) TotalSize() int32 { return r.i32(0) }

// BodyCRC is the stored BODYCRC.
func (r Record) BodyCRC() int32 { return r.i32(8) }

// QueueID is the record's queue id.
func (r Record) QueueID() int32 { return r.i32(offQueueID) }

// Flag is the producer's flag.
func (r Record) Flag() int32 { return r.i32(offFlag) }

// QueueOffset is the record's consume-queue offset.
func (r Record) QueueOffset() int64 { return r.i64(offQueueOff) }

// PhysicalOffset is the record's commit-log offset.
func (r Record) PhysicalOffset() int64 { return r.i64(offPhysOff) }

// SysFlag is the record's sysFlag.
func (r Record) SysFlag() int32 { return r.i32(offSysFlag) }

// BornTimestamp is the producer's timestamp in ms.
func (r Record) BornTimestamp() int64 { return r.i64(offBornTime) }

func (r Record) bornHostSize() int {
	if r.SysFlag()&FlagBornHostV6 != 0 {
		return 20
	}
	return 8
}

func (r Record) storeHostSize() int {
	if r.SysFlag()&FlagStoreHostV6 != 0 {
		return 20
	}
	return 8
}

func (r Record) offStoreTime() int { return offBornHost + r.bornHostSize() }

// BornHost is the producer's address.
func (r Record) BornHost() netip.AddrPort { return getHost(r[offBornHost:], r.bornHostSize() == 20) }

// StoreTimestamp is the broker's append time in ms.
func (r Record) StoreTimestamp() int64 { return r.i64(r.offStoreTime()) }

// StoreHost is the address of the broker that stored the record.
func (r Record) StoreHost() netip.AddrPort {
	return getHost(r[r.offStoreTime()+8:], r.storeHostSize() == 20)
}

func (r Record) offReconsume() int { return r.offStoreTime() + 8 + r.storeHostSize() }

// ReconsumeTimes is the number of redeliveries through a retry topic.
func (r Record) ReconsumeTimes() int32 { return r.i32(r.offReconsume()) }

// PreparedTransactionOffset is the half message's offset of a committed
// transactional message.
func (r Record) PreparedTransactionOffset() int64 { return r.i64(r.offReconsume() + 4) }

func (r Record) offBody() int { return r.offReconsume() + 16 }

// Body is the stored body (compressed if FlagCompressed is set).
func (r Record) Body() []byte {
	p := r.offBody()
	n := int(r.i32(p - 4))
	return r[p : p+n : p+n]
}

func (r Record) offTopic() int { p := r.offBody(); return p + int(r.i32(p-4)) }

// Topic is the record's topic.
func (r Record) Topic() []byte {
	p := r.offTopic()
	n := int(r[p])
	return r[p+1 : p+1+n : p+1+n]
}

// Properties is the encoded properties string.
func (r Record) Properties() []byte {
	p := r.offTopic()
	p += 1 + int(r[p])
	n := int(binary.BigEndian.Uint16(r[p:]))
	return r[p+2 : p+2+n : p+2+n]
}

// SetQueueOffset overwrites QUEUEOFFSET.
func (r Record) SetQueueOffset(off int64) { binary.BigEndian.PutUint64(r[offQueueOff:], uint64(off)) }

// SetPhysicalOffset overwrites PHYSICALOFFSET.
func (r Record) SetPhysicalOffset(off int64) { binary.BigEndian.PutUint64(r[offPhysOff:], uint64(off)) }

// CheckText reports an error if the topic or the properties of a record,
// which must have passed CheckRecord, hold a NUL byte. A record the store
// wrote never does (topics are validated, Validate refuses properties with
// NUL), but a disk page lost in a power loss reads back as the zeros the
// file was prepared with. The body CRC catches such a page inside the
// body and the lengths catch it over the fixed fields; this catches it
// over the topic and properties, which nothing else covers. So the store
// checks it wherever it decides whether bytes are a whole record.
func CheckText(b []byte) error {
	r := Record(b)
	if i := bytes.IndexByte(r.Topic(), 0); i >= 0 {
		return fmt.Errorf("%w: NUL byte in the topic at %d", ErrCorrupt, i)
	}
	if i := bytes.IndexByte(r.Properties(), 0); i >= 0 {
		return fmt.Errorf("%w: NUL byte in the properties at %d", ErrCorrupt, i)
	}
	return nil
}

// CheckRecord validates the record at the start of b and returns its size.
// A blank filler returns blank=true and its size. Record structure (magic,
// sizes, internal lengths) is always checked; the body CRC only if checkCRC.
// When b ends before the record does, the error wraps ErrTruncated; any
// other inconsistency wraps ErrCorrupt.
func CheckRecord(b []byte, checkCRC bool) (size int, blank bool, err error) {
	if len(b) < MinBlankSize {
		return 0, false, fmt.Errorf("%w: %d bytes left, header needs %d", ErrTruncated, len(b), MinBlankSize)
	}
	total := int(int32(binary.BigEndian.Uint32(b)))
	magic := int32(binary.BigEndian.Uint32(b[4:]))
	switch magic {
	case BlankMagicCode:
		if total < MinBlankSize {
			return 0, false, fmt.Errorf("%w: blank size %d", ErrCorrupt, total)
		}
		return total, true, nil
	case MagicCode:
	default:
		return 0, false, fmt.Errorf("%w: bad magic code %#08x", ErrCorrupt, uint32(magic))
	}
	if total < fixedSizeV4 {
		return 0, false, fmt.Errorf("%w: total size %d below minimum %d", ErrCorrupt, total, fixedSizeV4)
	}
	if total > len(b) {
		return 0, false, fmt.Errorf("%w: record of %d bytes, %d present", ErrTruncated, total, len(b))
	}
	r := Record(b[:total])
	fixed := fixedSizeV4 - 16 + r.bornHostSize() + r.storeHostSize()
	if total < fixed {
		return 0, false, fmt.Errorf("%w: total size %d below minimum %d", ErrCorrupt, total, fixed)
	}
	pBody := r.offBody()
	bodyLen := int(r.i32(pBody - 4))
	if bodyLen < 0 || pBody+bodyLen+1 > total {
		return 0, false, fmt.Errorf("%w: body length %d does not fit record of %d", ErrCorrupt, bodyLen, total)
	}
	pTopic := pBody + bodyLen
	topicLen := int(b[pTopic])
	pProps := pTopic + 1 + topicLen
	if pProps+2 > total {
		return 0, false, fmt.Errorf("%w: topic length %d does not fit record of %d", ErrCorrupt, topicLen, total)
	}
	propsLen := int(binary.BigEndian.Uint16(b[pProps:]))
	if pProps+2+propsLen != total {
		return 0, false, fmt.Errorf("%w: lengths add to %d, total size says %d", ErrCorrupt, pProps+2+propsLen, total)
	}
	if checkCRC {
		if got, want := BodyChecksum(r.Body()), r.BodyCRC(); got != want {
			return 0, false, fmt.Errorf("%w: body CRC %#x, stored %#x", ErrCorrupt, got, want)
		}
	}
	return total, false, nil
}
