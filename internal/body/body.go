// Package body holds the JSON bodies RocketMQ's name server, brokers and
// clients exchange (RocketMQ's protocol/body, route and heartbeat classes),
// with the exact shapes the official clients parse: field names, compact
// output (the Go client splits brokerAddrs on ',' and ':' and keeps any
// whitespace in the address), and lenient input (the Go client sends
// heartbeat tag codes as JSON strings, Java as numbers).
package body

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Permission bits of topics and brokers (PermName).
const (
	PermPriority = 0x8
	PermRead     = 0x4
	PermWrite    = 0x2
	PermInherit  = 0x1
)

// DataVersion orders versions of a broker's metadata.
type DataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"`
}

// TopicConfig is a topic's queues and permissions on one broker.
type TopicConfig struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
	Perm            int32  `json:"perm"`
	TopicFilterType string `json:"topicFilterType"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	Order           bool   `json:"order"`
}

// UnmarshalJSON applies RocketMQ's defaults for missing fields (16 queues,
// perm 6, SINGLE_TAG).
func (t *TopicConfig) UnmarshalJSON(b []byte) error {
	type plain TopicConfig
	p := plain{ReadQueueNums: 16, WriteQueueNums: 16, Perm: PermRead | PermWrite, TopicFilterType: "SINGLE_TAG"}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = TopicConfig(p)
	return nil
}

// TopicConfigSerializeWrapper is a broker's topic table with its version
// (GET_ALL_TOPIC_CONFIG, registration, and the broker's topics.json).
type TopicConfigSerializeWrapper struct {
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion            `json:"dataVersion"`
}

// RegisterBrokerBody is the REGISTER_BROKER body (uncompressed form).
type RegisterBrokerBody struct {
	TopicConfigSerializeWrapper TopicConfigSerializeWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string                    `json:"filterServerList"`
}

// QueueData is one broker's queues of a topic in a route.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	WriteQueueNums int32  `json:"writeQueueNums"`
	Perm           int32  `json:"perm"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
}

// BrokerData is a broker name's addresses: id 0 is the master.
type BrokerData struct {
	Cluster     string           `json:"cluster"`
	BrokerName  string           `json:"brokerName"`
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
}

// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC body.
type TopicRouteData struct {
	OrderTopicConf    string              `json:"orderTopicConf,omitempty"`
	QueueDatas        []QueueData         `json:"queueDatas"`
	BrokerDatas       []BrokerData        `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
}

// ClusterInfo is the GET_BROKER_CLUSTER_INFO body.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the body of topic-list requests.
type TopicList struct {
	TopicList  []string `json:"topicList"`
	BrokerAddr string   `json:"brokerAddr,omitempty"`
}

// Marshal encodes v compactly (encoding/json never adds whitespace).
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("body: marshal %T: %v", v, err)) // only our own types are marshalled
	}
	return b
}

// Int64Set decodes a JSON array of integers given as numbers or strings
// (the Go client writes heartbeat tag codes as strings).
type Int64Set []int64

// UnmarshalJSON accepts numbers and numeric strings.
func (s *Int64Set) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make([]int64, 0, len(raw))
	for _, r := range raw {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return err
		}
		switch x := v.(type) {
		case float64:
			out = append(out, int64(x))
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return fmt.Errorf("code %q: %w", x, err)
			}
			out = append(out, n)
		default:
			return fmt.Errorf("code %s is neither a number nor a string", r)
		}
	}
	*s = out
	return nil
}
