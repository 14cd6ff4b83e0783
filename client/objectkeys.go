package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// RocketMQ serializes maps keyed by MessageQueue with fastjson, which
// writes the keys as JSON objects, not strings:
//
//	{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...},...}}
//
// That is not JSON, so encoding/json cannot read it; queueMapEntries does.

// queueEntry is one key/value pair of such a map; value is raw JSON.
type queueEntry struct {
	queue MessageQueue
	value []byte
}

var errObjectKeys = errors.New("petrel client: malformed MessageQueue-keyed map")

// queueMapEntries returns the entries of the map under field (at any
// depth; the first occurrence). A missing field is an empty map.
func queueMapEntries(b []byte, field string) ([]queueEntry, error) {
	b, err := fieldValue(b, field)
	if err != nil || b == nil {
		return nil, err
	}
	if b[0] != '{' {
		return nil, errObjectKeys
	}
	i := 1
	var out []queueEntry
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, errObjectKeys
		}
		if b[i] == '}' {
			return out, nil
		}
		end, err := compositeEnd(b, i)
		if err != nil {
			return nil, err
		}
		var w wireQueue
		if err := json.Unmarshal(b[i:end], &w); err != nil {
			return nil, fmt.Errorf("%w: key %s: %w", errObjectKeys, b[i:end], err)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errObjectKeys
		}
		i = skipSpace(b, i+1)
		vend, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, queueEntry{queue: w.queue(), value: b[i:vend]})
		i = skipSpace(b, vend)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// fieldValue returns the raw value of the first "name": in b, or nil.
func fieldValue(b []byte, name string) ([]byte, error) {
	i := bytes.Index(b, []byte(`"`+name+`"`))
	if i < 0 {
		return nil, nil
	}
	i = skipSpace(b, i+len(name)+2)
	if i >= len(b) || b[i] != ':' {
		return nil, errObjectKeys
	}
	i = skipSpace(b, i+1)
	end, err := valueEnd(b, i)
	if err != nil {
		return nil, err
	}
	return b[i:end], nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// compositeEnd returns the index after the object or array starting at
// b[i], minding strings.
func compositeEnd(b []byte, i int) (int, error) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, errObjectKeys
}

// valueEnd returns the index after the value starting at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i < len(b) && (b[i] == '{' || b[i] == '[') {
		return compositeEnd(b, i)
	}
	if i < len(b) && b[i] == '"' {
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errObjectKeys
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' {
		j++
	}
	if j == i {
		return 0, errObjectKeys
	}
	return j, nil
}

// parseQueueOffsets reads {"offsetTable":{{mq}:offset,...}} (a reset body).
func parseQueueOffsets(b []byte) (map[MessageQueue]int64, error) {
	entries, err := queueMapEntries(b, "offsetTable")
	if err != nil {
		return nil, err
	}
	out := make(map[MessageQueue]int64, len(entries))
	for _, e := range entries {
		off, err := strconv.ParseInt(string(bytes.TrimSpace(e.value)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: offset of %s: %w", errObjectKeys, e.queue, err)
		}
		out[e.queue] = off
	}
	return out, nil
}
