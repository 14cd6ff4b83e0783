package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFrameSize is Java's com.rocketmq.remoting.frameMaxLength: the
// largest frame, length prefix included.
const DefaultMaxFrameSize = 16 << 20

// MaxHeaderLength is the largest header the 24-bit header length can state.
const MaxHeaderLength = 1<<24 - 1

// Framing errors.
var (
	// ErrMalformedFrame: the bytes are not a valid frame or header.
	ErrMalformedFrame = errors.New("protocol: malformed frame")
	// ErrFrameTooLarge: a frame exceeds the size limit.
	ErrFrameTooLarge = errors.New("protocol: frame too large")
)

// bodyChunk is the largest body allocated at once on the word of the length
// prefix; larger bodies grow as their bytes arrive, so a peer that claims
// 16 MiB and sends nothing costs little memory.
const bodyChunk = 1 << 20

// ReadFrame reads one frame from r and decodes its header. maxFrameSize
// bounds the frame including its 4-byte length prefix (<= 0 means
// DefaultMaxFrameSize); every length is checked against it and against the
// frame's own size before anything is allocated.
//
// It returns io.EOF if r ends cleanly before a frame, io.ErrUnexpectedEOF if
// it ends inside one, and errors wrapping ErrFrameTooLarge or
// ErrMalformedFrame for bad frames. After a header decoding error the frame
// has been consumed; after a bad length prefix the stream is out of sync.
func ReadFrame(r *bufio.Reader, maxFrameSize int) (*Command, error) {
	return ReadFrameInto(r, maxFrameSize, nil)
}

// ReadFrameInto is ReadFrame that asks body, once the header is decoded,
// for the buffer to read the body into: a slice of exactly n bytes, or nil
// for a fresh one. A server recycles the bodies of requests it is done
// with this way.
func ReadFrameInto(r *bufio.Reader, maxFrameSize int, body func(cmd *Command, n int) []byte) (*Command, error) {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	prefix, err := r.Peek(4)
	if err != nil {
		if err == io.EOF && len(prefix) == 0 {
			return nil, io.EOF
		}
		return nil, unexpectedEOF(err)
	}
	frameLen := int64(int32(binary.BigEndian.Uint32(prefix)))
	if frameLen < 4 {
		return nil, fmt.Errorf("%w: frame length %d is less than the 4 bytes of its header-length field", ErrMalformedFrame, frameLen)
	}
	if frameLen+4 > int64(maxFrameSize) {
		return nil, fmt.Errorf("%w: %d bytes with the length prefix, limit %d", ErrFrameTooLarge, frameLen+4, maxFrameSize)
	}
	prefix, err = r.Peek(8)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	info := binary.BigEndian.Uint32(prefix[4:])
	serializeType := SerializeType(info >> 24)
	headerLen := int(info & MaxHeaderLength)
	if int64(headerLen) > frameLen-4 {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d bytes of the frame after the header-length field", ErrMalformedFrame, headerLen, frameLen-4)
	}
	r.Discard(8)
	bodyLen := int(frameLen) - 4 - headerLen

	header, err := readHeader(r, headerLen)
	if err != nil {
		return nil, err
	}
	cmd := newCommand()
	switch serializeType {
	case JSON:
		err = decodeJSON(header, cmd)
	case RocketMQ:
		err = decodeRocketMQ(header, cmd)
	default:
		err = fmt.Errorf("%w: unknown serialize type %d", ErrMalformedFrame, serializeType)
	}
	if err != nil {
		if _, derr := r.Discard(bodyLen); derr != nil {
			return nil, unexpectedEOF(derr)
		}
		return nil, err
	}
	if bodyLen > 0 {
		if b := bodyInto(body, cmd, bodyLen); b != nil {
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, unexpectedEOF(err)
			}
			cmd.Body = b
		} else if cmd.Body, err = readBody(r, bodyLen); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// readHeader returns the next n bytes as a string: one copy, straight from
// r's buffer when they fit in it.
func readHeader(r *bufio.Reader, n int) (string, error) {
	if n <= r.Size() {
		b, err := r.Peek(n)
		if err != nil {
			return "", unexpectedEOF(err)
		}
		s := string(b)
		r.Discard(n)
		return s, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", unexpectedEOF(err)
	}
	return string(b), nil
}

// bodyInto returns the caller's buffer for a body of n bytes, or nil.
func bodyInto(body func(*Command, int) []byte, cmd *Command, n int) []byte {
	if body == nil {
		return nil
	}
	if b := body(cmd, n); len(b) == n {
		return b
	}
	return nil
}

func readBody(r *bufio.Reader, n int) ([]byte, error) {
	if n <= bodyChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, unexpectedEOF(err)
		}
		return b, nil
	}
	b := make([]byte, 0, bodyChunk)
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(2*cap(b), n))
			copy(grown, b)
			b = grown
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			return nil, unexpectedEOF(err)
		}
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends c as a whole frame in its SerializeType. A command the
// ROCKETMQ header cannot carry (see ErrNotRepresentable) is written in JSON,
// which every peer reads. It panics if the header exceeds MaxHeaderLength or
// the frame 2 GiB; use EncodeFrame for commands of unchecked size.
func (c *Command) AppendFrame(dst []byte) []byte {
	out, err := c.appendFrame(dst, math.MaxInt32+4)
	if err != nil {
		panic(err)
	}
	return out
}

// EncodeFrame is AppendFrame with a size limit: if the frame, length prefix
// included, would exceed maxFrameSize (<= 0 means DefaultMaxFrameSize) it
// returns dst unchanged and an error wrapping ErrFrameTooLarge.
func (c *Command) EncodeFrame(dst []byte, maxFrameSize int) ([]byte, error) {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if 8+len(c.Body) > maxFrameSize {
		return dst, fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, len(c.Body), maxFrameSize)
	}
	return c.appendFrame(dst, int64(maxFrameSize))
}

func (c *Command) appendFrame(dst []byte, maxFrameSize int64) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	serializeType := JSON
	if c.SerializeType == RocketMQ && rocketMQRepresentable(c) {
		serializeType = RocketMQ
		dst = appendRocketMQ(dst, c)
	} else {
		dst = AppendJSONHeader(dst, c)
	}
	headerLen := len(dst) - start - 8
	if headerLen > MaxHeaderLength {
		return dst[:start], fmt.Errorf("%w: header of %d bytes exceeds the 24-bit header length", ErrFrameTooLarge, headerLen)
	}
	size := int64(len(dst)-start) + int64(len(c.Body))
	if size > maxFrameSize {
		return dst[:start], fmt.Errorf("%w: %d bytes with the length prefix, limit %d", ErrFrameTooLarge, size, maxFrameSize)
	}
	dst = append(dst, c.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(size-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(serializeType)<<24|uint32(headerLen))
	return dst, nil
}
