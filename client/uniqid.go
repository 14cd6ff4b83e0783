package client

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// uniqIDs generates the client-side message id (UNIQ_KEY) in the Java
// client's layout (MessageClientIDSetter), upper-case hex of 16 bytes:
//
//	ip(4) ‖ pid(int16) ‖ random(int32) ‖ ms since the month began(int32) ‖ counter(int16)
//
// Java puts its class loader's hash where petrel puts a random number: both
// only tell processes on one host apart. Brokers index the id as a key and
// tools decode the ip and time from it, so the layout matters; consumers
// treat it as an opaque string.
type uniqIDs struct {
	mu         sync.Mutex
	prefix     [20]byte // hex of ip, pid, random
	monthStart int64    // ms
	nextMonth  int64    // ms
	counter    uint16
}

var uniqIDGen = newUniqIDs()

func newUniqIDs() *uniqIDs {
	var raw [10]byte
	ip := localIPv4()
	copy(raw[:4], ip[:])
	binary.BigEndian.PutUint16(raw[4:], uint16(os.Getpid()))
	binary.BigEndian.PutUint32(raw[6:], rand.Uint32())
	g := &uniqIDs{counter: uint16(rand.Uint32())}
	for i, b := range raw {
		g.prefix[2*i], g.prefix[2*i+1] = hexUpper[b>>4], hexUpper[b&0xF]
	}
	return g
}

const hexUpper = "0123456789ABCDEF"

// NewMessageID returns a new unique message id (UNIQ_KEY) in the layout
// the producer gives messages, for Message.ID: fixing the id before the
// first send attempt lets every resend carry it.
func NewMessageID() string { return uniqIDGen.next() }

// next returns a new id.
func (g *uniqIDs) next() string {
	now := time.Now()
	ms := now.UnixMilli()
	g.mu.Lock()
	if ms >= g.nextMonth || ms < g.monthStart {
		y, mo, _ := now.Date()
		g.monthStart = time.Date(y, mo, 1, 0, 0, 0, 0, now.Location()).UnixMilli()
		g.nextMonth = time.Date(y, mo+1, 1, 0, 0, 0, 0, now.Location()).UnixMilli()
	}
	g.counter++
	var tail [6]byte
	binary.BigEndian.PutUint32(tail[:], uint32(ms-g.monthStart))
	binary.BigEndian.PutUint16(tail[4:], g.counter)
	var id [32]byte
	copy(id[:], g.prefix[:])
	g.mu.Unlock()
	for i, b := range tail {
		id[20+2*i], id[21+2*i] = hexUpper[b>>4], hexUpper[b&0xF]
	}
	return string(id[:])
}

// localIPv4 is the machine's first non-loopback IPv4 address, or
// 127.0.0.1: the address the client id and message ids carry.
func localIPv4() [4]byte {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, ia := range addrs {
			if n, ok := ia.(*net.IPNet); ok {
				if a, ok := netip.AddrFromSlice(n.IP); ok {
					a = a.Unmap()
					if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
						return a.As4()
					}
				}
			}
		}
	}
	return [4]byte{127, 0, 0, 1}
}
