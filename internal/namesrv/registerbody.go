package namesrv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/petrel-mq/petrel/internal/body"
)

// ErrBadRegisterBody is wrapped by errors decoding a REGISTER_BROKER body.
var ErrBadRegisterBody = errors.New("namesrv: bad register broker body")

// maxInflatedRegisterBody bounds what a compressed body may inflate to, so a
// small frame cannot make the name server allocate without limit. A broker
// with 100,000 topics needs about 5 MiB.
const maxInflatedRegisterBody = 64 << 20

// Topic filter types a compressed TopicConfig may name (Java's
// TopicFilterType enum; valueOf refuses anything else).
const (
	filterSingleTag = "SINGLE_TAG"
	filterMultiTag  = "MULTI_TAG"
)

// bodyCRC32 is RocketMQ's UtilAll.crc32: CRC-32 (IEEE) masked to a
// non-negative Java int.
func bodyCRC32(b []byte) int32 {
	return int32(crc32.ChecksumIEEE(b) & 0x7FFFFFFF)
}

// decodeRegisterBrokerBody decodes a REGISTER_BROKER body in either form.
// An empty body is a registration without topics (Java's DataVersion 0/0).
func decodeRegisterBrokerBody(b []byte, compressed bool) (body.RegisterBrokerBody, error) {
	var rb body.RegisterBrokerBody
	if len(b) == 0 {
		return rb, nil
	}
	if !compressed {
		if err := json.Unmarshal(b, &rb); err != nil {
			return body.RegisterBrokerBody{}, fmt.Errorf("%w: %w", ErrBadRegisterBody, err)
		}
		return rb, nil
	}
	rb, err := decodeCompressedBody(b)
	if err != nil {
		return body.RegisterBrokerBody{}, fmt.Errorf("%w: compressed: %w", ErrBadRegisterBody, err)
	}
	return rb, nil
}

func decodeCompressedBody(b []byte) (body.RegisterBrokerBody, error) {
	var rb body.RegisterBrokerBody
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return rb, err
	}
	defer zr.Close()
	r := &chunkReader{r: io.LimitReader(zr, maxInflatedRegisterBody)}

	dv := r.chunk("data version")
	if r.err == nil {
		if err := json.Unmarshal(dv, &rb.TopicConfigSerializeWrapper.DataVersion); err != nil {
			return rb, fmt.Errorf("data version: %w", err)
		}
	}
	count := r.int32("topic count")
	if r.err == nil && count < 0 {
		return rb, fmt.Errorf("topic count %d", count)
	}
	table := make(map[string]body.TopicConfig)
	for i := int32(0); i < count && r.err == nil; i++ {
		text := r.chunk("topic config")
		if r.err != nil {
			break
		}
		tc, err := parseTopicConfigText(string(text))
		if err != nil {
			return rb, fmt.Errorf("topic config %d: %w", i, err)
		}
		table[tc.TopicName] = tc
	}
	filters := r.chunk("filter server list")
	if r.err != nil {
		return rb, r.err
	}
	rb.TopicConfigSerializeWrapper.TopicConfigTable = table
	// Java logs and ignores a bad filter server list; nobody uses it.
	if json.Unmarshal(filters, &rb.FilterServerList) != nil {
		rb.FilterServerList = nil
	}
	return rb, nil
}

// chunkReader reads the length-prefixed pieces of a compressed body and
// keeps the first error.
type chunkReader struct {
	r   io.Reader
	err error
}

func (c *chunkReader) int32(what string) int32 {
	if c.err != nil {
		return 0
	}
	var b [4]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		c.err = fmt.Errorf("%s length: %w", what, err)
		return 0
	}
	return int32(binary.BigEndian.Uint32(b[:]))
}

// chunk reads an int32 length and that many bytes. The bytes are read as
// they come rather than allocated from the length, which is untrusted.
func (c *chunkReader) chunk(what string) []byte {
	n := c.int32(what)
	if c.err != nil {
		return nil
	}
	if n < 0 {
		c.err = fmt.Errorf("%s length %d", what, n)
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(c.r, int64(n)))
	if err == nil && len(b) < int(n) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.err = fmt.Errorf("%s: %w", what, err)
		return nil
	}
	return b
}

// parseTopicConfigText parses Java's TopicConfig.encode text. Like Java's
// String.split(" ") it drops trailing empty fields; a sixth field (RocketMQ
// 5 attributes) is ignored.
func parseTopicConfigText(s string) (body.TopicConfig, error) {
	f := strings.Split(s, " ")
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	if len(f) < 5 {
		return body.TopicConfig{}, fmt.Errorf("%q has %d fields, want 5", s, len(f))
	}
	tc := body.TopicConfig{TopicName: f[0], TopicFilterType: f[4]}
	nums := []*int32{&tc.ReadQueueNums, &tc.WriteQueueNums, &tc.Perm}
	for i, p := range nums {
		v, err := strconv.ParseInt(f[1+i], 10, 32)
		if err != nil {
			return body.TopicConfig{}, fmt.Errorf("%q: %w", s, err)
		}
		*p = int32(v)
	}
	if tc.TopicFilterType != filterSingleTag && tc.TopicFilterType != filterMultiTag {
		return body.TopicConfig{}, fmt.Errorf("%q: unknown topic filter type %q", s, tc.TopicFilterType)
	}
	return tc, nil
}

// encodeRegisterBrokerBody encodes a REGISTER_BROKER body; the compressed
// form writes topics sorted by name so equal tables give equal bytes.
func encodeRegisterBrokerBody(rb body.RegisterBrokerBody, compressed bool) []byte {
	if rb.FilterServerList == nil {
		rb.FilterServerList = []string{}
	}
	if !compressed {
		if rb.TopicConfigSerializeWrapper.TopicConfigTable == nil {
			rb.TopicConfigSerializeWrapper.TopicConfigTable = map[string]body.TopicConfig{}
		}
		return body.Marshal(rb)
	}
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression) // the level is valid
	putChunk(zw, body.Marshal(rb.TopicConfigSerializeWrapper.DataVersion))
	table := rb.TopicConfigSerializeWrapper.TopicConfigTable
	putInt32(zw, int32(len(table)))
	for _, key := range slices.Sorted(maps.Keys(table)) {
		putChunk(zw, []byte(topicConfigText(topicName(key, table[key]), table[key])))
	}
	putChunk(zw, body.Marshal(rb.FilterServerList))
	zw.Close() // writes into memory: cannot fail
	return buf.Bytes()
}

// topicConfigText is Java's TopicConfig.encode.
func topicConfigText(name string, tc body.TopicConfig) string {
	filter := tc.TopicFilterType
	if filter == "" {
		filter = filterSingleTag
	}
	return fmt.Sprintf("%s %d %d %d %s", name, tc.ReadQueueNums, tc.WriteQueueNums, tc.Perm, filter)
}

func putInt32(w io.Writer, v int32) {
	w.Write(binary.BigEndian.AppendUint32(nil, uint32(v)))
}

func putChunk(w io.Writer, b []byte) {
	putInt32(w, int32(len(b)))
	w.Write(b)
}
