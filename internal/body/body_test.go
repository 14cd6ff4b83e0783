package body

import (
	"encoding/json"
	"testing"
)

func TestRouteJSONIsCompact(t *testing.T) {
	r := TopicRouteData{
		QueueDatas:        []QueueData{{BrokerName: "b", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}},
		BrokerDatas:       []BrokerData{{Cluster: "c", BrokerName: "b", BrokerAddrs: map[int64]string{0: "127.0.0.1:10911"}}},
		FilterServerTable: map[string][]string{},
	}
	got := string(Marshal(r))
	want := `{"queueDatas":[{"brokerName":"b","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}],"brokerDatas":[{"cluster":"c","brokerName":"b","brokerAddrs":{"0":"127.0.0.1:10911"}}],"filterServerTable":{}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHeartbeatAcceptsStringAndNumberCodes(t *testing.T) {
	for _, in := range []string{
		`{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","subString":"A || B","tagsSet":["A","B"],"codeSet":["65","66"],"subVersion":1700000000000000000}]}]}`,
		`{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","subString":"A || B","tagsSet":["A","B"],"codeSet":[65,66],"subVersion":1700000000000000000}]}]}`,
	} {
		var h HeartbeatData
		if err := json.Unmarshal([]byte(in), &h); err != nil {
			t.Fatal(err)
		}
		sd := h.ConsumerDataSet[0].SubscriptionDataSet[0]
		if len(sd.CodeSet) != 2 || sd.CodeSet[1] != 66 || sd.SubVersion != 1700000000000000000 {
			t.Fatalf("%+v", sd)
		}
	}
}

func TestTopicConfigDefaults(t *testing.T) {
	var w TopicConfigSerializeWrapper
	if err := json.Unmarshal([]byte(`{"topicConfigTable":{"T":{"topicName":"T"}},"dataVersion":{"counter":3}}`), &w); err != nil {
		t.Fatal(err)
	}
	tc := w.TopicConfigTable["T"]
	if tc.ReadQueueNums != 16 || tc.Perm != 6 || tc.TopicFilterType != "SINGLE_TAG" || w.DataVersion.Counter != 3 {
		t.Fatalf("%+v", tc)
	}
}
