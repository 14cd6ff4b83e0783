package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// sendToRetry sends like the Java consumer's fallback when
// CONSUMER_SEND_MSG_BACK fails: straight to %RETRY%<group>, with the
// reconsume times in the header and a delay level in the properties.
func (tb *testBroker) sendToRetry(group, body string, reconsumeTimes int, maxReconsumeTimes string) *protocol.Command {
	tb.t.Helper()
	f := protocol.FieldsOf(
		"producerGroup", "CLIENT_INNER_PRODUCER", "topic", RetryGroupTopicPrefix+group, "defaultTopic", TopicDefault,
		"defaultTopicQueueNums", "4", "queueId", "0", "sysFlag", "0",
		"bornTimestamp", strconv.FormatInt(time.Now().UnixMilli(), 10), "flag", "0",
		"properties", string(message.EncodeProperties(nil, "RETRY_TOPIC", "Orders", "DELAY", strconv.Itoa(3+reconsumeTimes))),
		"reconsumeTimes", strconv.Itoa(reconsumeTimes), "unitMode", "false", "batch", "false")
	if maxReconsumeTimes != "" {
		f.Set("maxReconsumeTimes", maxReconsumeTimes)
	}
	return tb.invoke(protocol.SendMessage, f, []byte(body))
}

// TestSendToRetryTopicDeadLettersWhenExhausted: a message sent straight to
// a retry topic stays a delayed retry until its reconsume times reach the
// limit (the header's maxReconsumeTimes, else the group's retryMaxTimes);
// then it is stored in %DLQ%<group>, queue 0, without delay.
func TestSendToRetryTopicDeadLettersWhenExhausted(t *testing.T) {
	tb := startBroker(t, testBrokerConfig(t, t.TempDir()), nil)
	for _, tc := range []struct {
		name           string
		reconsumeTimes int
		max            string
		wantDLQ        bool
	}{
		{"below the header's limit", 2, "3", false},
		{"at the header's limit", 3, "3", true},
		{"below the group's 16", 15, "", false},
		{"at the group's 16", 16, "", true},
	} {
		resp := tb.sendToRetry("g", tc.name, tc.reconsumeTimes, tc.max)
		if resp.Code != protocol.Success {
			t.Fatalf("%s: %d %s", tc.name, resp.Code, resp.Remark)
		}
		if got := resp.Ext.Get("queueId") == "0"; tc.wantDLQ && !got {
			t.Fatalf("%s: answered queue %s, want the DLQ's 0", tc.name, resp.Ext.Get("queueId"))
		}
	}
	tb.waitDispatched()
	resp := tb.pull("g", DLQGroupTopicPrefix+"g", 0, 0, "*")
	if resp.Code != protocol.Success {
		t.Fatalf("pull DLQ: %d %s", resp.Code, resp.Remark)
	}
	dlq := decodeBody(t, resp.Body)
	if len(dlq) != 2 || string(dlq[0].Body) != "at the header's limit" || string(dlq[1].Body) != "at the group's 16" {
		t.Fatalf("DLQ holds %d messages: %v", len(dlq), dlq)
	}
	for _, m := range dlq {
		if m.Properties["DELAY"] != "" || m.Properties["RETRY_TOPIC"] != "Orders" || m.ReconsumeTimes < 3 {
			t.Fatalf("DLQ message %q: properties %v, reconsume times %d", m.Body, m.Properties, m.ReconsumeTimes)
		}
	}
	// The other two wait in the delay queue, not in the retry topic yet.
	if got := tb.pull("g", RetryGroupTopicPrefix+"g", 0, 0, "*"); got.Code == protocol.Success {
		t.Fatalf("a retry that is not exhausted was delivered at once: %v", decodeBody(t, got.Body))
	}
}
