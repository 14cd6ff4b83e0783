package compat

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Request codes the tests send themselves, for admin operations the
// official Go client has no API for (remoting-protocol.md, section 2).
const (
	codeGetConsumerListByGroup = 38  // GET_CONSUMER_LIST_BY_GROUP
	codeUnlockBatchMQ          = 42  // UNLOCK_BATCH_MQ
	codeGetTopicStatsInfo      = 202 // GET_TOPIC_STATS_INFO
	codeGetConsumeStats        = 208 // GET_CONSUME_STATS
	codeInvokeBrokerResetOff   = 222 // INVOKE_BROKER_TO_RESET_OFFSET
)

// rawResponse is a reply to a rawRemoting request.
type rawResponse struct {
	Code      int               `json:"code"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Remark    string            `json:"remark"`
	ExtFields map[string]string `json:"extFields"`
	Body      []byte            `json:"-"`
}

// rawRemoting is a minimal remoting client: JSON-header frames over one
// TCP connection, one request at a time. The official Go client keeps its
// remoting layer in an internal package and exposes no admin call for
// resetting offsets, reading consume stats or unlocking a queue, so the
// tests that need those speak the protocol themselves, as mqadmin would.
type rawRemoting struct {
	conn   net.Conn
	r      *bufio.Reader
	opaque int32
}

// dialRemoting connects to addr; the connection is closed when t ends if
// the caller has not closed it.
func dialRemoting(t testing.TB, addr string) *rawRemoting {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawRemoting{conn: c, r: bufio.NewReader(c)}
}

func (rr *rawRemoting) close() { rr.conn.Close() }

// invoke sends a request and returns its response. Frames the server sends
// unasked (requests, or replies to other opaques) are skipped.
func (rr *rawRemoting) invoke(code int, ext map[string]string, body []byte) (*rawResponse, error) {
	rr.opaque++
	header, err := json.Marshal(map[string]any{
		"code": code, "language": "GO", "version": 317, "opaque": rr.opaque, "flag": 0, "remark": "", "extFields": ext,
	})
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 8, 8+len(header)+len(body))
	binary.BigEndian.PutUint32(frame[0:4], uint32(4+len(header)+len(body)))
	binary.BigEndian.PutUint32(frame[4:8], uint32(len(header))) // serialize type 0: JSON
	frame = append(append(frame, header...), body...)
	if err := rr.conn.SetDeadline(time.Now().Add(opTimeout)); err != nil {
		return nil, err
	}
	if _, err := rr.conn.Write(frame); err != nil {
		return nil, fmt.Errorf("write request %d: %w", code, err)
	}
	for {
		var prefix [8]byte
		if _, err := io.ReadFull(rr.r, prefix[:]); err != nil {
			return nil, fmt.Errorf("read reply to request %d: %w", code, err)
		}
		total := binary.BigEndian.Uint32(prefix[0:4])
		info := binary.BigEndian.Uint32(prefix[4:8])
		if info>>24 != 0 {
			return nil, fmt.Errorf("reply to request %d: serialize type %d, want JSON", code, info>>24)
		}
		hlen := info & 0xFFFFFF
		if total < 4+hlen {
			return nil, fmt.Errorf("reply to request %d: frame length %d shorter than its header %d", code, total, hlen)
		}
		rest := make([]byte, total-4)
		if _, err := io.ReadFull(rr.r, rest); err != nil {
			return nil, fmt.Errorf("read reply to request %d: %w", code, err)
		}
		var resp rawResponse
		if err := json.Unmarshal(rest[:hlen], &resp); err != nil {
			return nil, fmt.Errorf("reply to request %d: header %q: %w", code, rest[:hlen], err)
		}
		if resp.Flag&1 == 0 || resp.Opaque != rr.opaque {
			continue
		}
		resp.Body = rest[hlen:]
		return &resp, nil
	}
}

// mustInvoke is invoke that fails t unless the reply is SUCCESS.
func (rr *rawRemoting) mustInvoke(t testing.TB, code int, ext map[string]string, body []byte) *rawResponse {
	t.Helper()
	resp, err := rr.invoke(code, ext, body)
	if err != nil {
		t.Fatalf("request %d %v: %v", code, ext, err)
	}
	if resp.Code != 0 {
		t.Fatalf("request %d %v: code %d remark %q", code, ext, resp.Code, resp.Remark)
	}
	return resp
}

// queueStats is one queue's entry of GET_CONSUME_STATS or
// GET_TOPIC_STATS_INFO.
type queueStats struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	LastTimestamp  int64 `json:"lastTimestamp"`
	MinOffset      int64 `json:"minOffset"`
	MaxOffset      int64 `json:"maxOffset"`
}

// mqEntry matches one entry of a map keyed by MessageQueue the way
// fastjson writes it (the key is an object, so the body is not JSON).
var mqEntry = regexp.MustCompile(`\{"brokerName":"[^"]*","queueId":(\d+),"topic":"([^"]*)"\}:(\{[^{}]*\})`)

// parseQueueStats reads a ConsumeStats or TopicStatsTable body into
// topic -> queue id -> stats.
func parseQueueStats(body []byte) (map[string]map[int]queueStats, error) {
	out := map[string]map[int]queueStats{}
	for _, m := range mqEntry.FindAllSubmatch(body, -1) {
		q, _ := strconv.Atoi(string(m[1]))
		var s queueStats
		if err := json.Unmarshal(m[3], &s); err != nil {
			return nil, fmt.Errorf("queue %s/%d: %w", m[2], q, err)
		}
		if out[string(m[2])] == nil {
			out[string(m[2])] = map[int]queueStats{}
		}
		out[string(m[2])][q] = s
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no queue entries in %q", body)
	}
	return out, nil
}

// consumeStats asks the broker for group's GET_CONSUME_STATS on topic.
func consumeStats(t testing.TB, p *Petrel, group, topic string) map[int]queueStats {
	t.Helper()
	rr := dialRemoting(t, p.BrokerAddr)
	defer rr.close()
	resp := rr.mustInvoke(t, codeGetConsumeStats, map[string]string{"consumerGroup": group, "topic": topic}, nil)
	all, err := parseQueueStats(resp.Body)
	if err != nil {
		t.Fatalf("GET_CONSUME_STATS %s %s: %v", group, topic, err)
	}
	return all[topic]
}

// topicMaxOffsets asks the broker for GET_TOPIC_STATS_INFO of topic and
// returns each queue's max offset (how many messages it ever stored).
func topicMaxOffsets(t testing.TB, p *Petrel, topic string) map[int]int64 {
	t.Helper()
	rr := dialRemoting(t, p.BrokerAddr)
	defer rr.close()
	resp := rr.mustInvoke(t, codeGetTopicStatsInfo, map[string]string{"topic": topic}, nil)
	all, err := parseQueueStats(resp.Body)
	if err != nil {
		t.Fatalf("GET_TOPIC_STATS_INFO %s: %v", topic, err)
	}
	out := map[int]int64{}
	for q, s := range all[topic] {
		out[q] = s.MaxOffset
	}
	return out
}

// consumerIDs asks the broker for the client ids of group's members.
func consumerIDs(t testing.TB, p *Petrel, group string) []string {
	t.Helper()
	rr := dialRemoting(t, p.BrokerAddr)
	defer rr.close()
	resp, err := rr.invoke(codeGetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil)
	if err != nil {
		t.Fatalf("GET_CONSUMER_LIST_BY_GROUP %s: %v", group, err)
	}
	if resp.Code != 0 {
		return nil // no member online
	}
	var list struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		t.Fatalf("GET_CONSUMER_LIST_BY_GROUP %s: body %q: %v", group, resp.Body, err)
	}
	return list.ConsumerIDList
}
