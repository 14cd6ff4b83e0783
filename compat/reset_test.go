package compat

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// resetEntry matches one queue of a ResetOffsetBody as fastjson writes
// it: {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5,...}}.
var resetEntry = regexp.MustCompile(`\{"brokerName":"[^"]*","queueId":(\d+),"topic":"([^"]*)"\}:(-?\d+)`)

// resetOffsets sends INVOKE_BROKER_TO_RESET_OFFSET (what mqadmin
// resetOffsetByTime sends; the Go client has no admin call for it) and
// returns the per-queue offsets the broker answered with.
func resetOffsets(t *testing.T, p *Petrel, group, topic string, timestamp int64) map[int]int64 {
	t.Helper()
	resp := dialRemoting(t, p.BrokerAddr).mustInvoke(t, codeInvokeBrokerResetOff, map[string]string{
		"topic": topic, "group": group, "timestamp": strconv.FormatInt(timestamp, 10), "isForce": "true",
	}, nil)
	got := map[int]int64{}
	for _, m := range resetEntry.FindAllSubmatch(resp.Body, -1) {
		if string(m[2]) != topic {
			t.Errorf("reset of %s answered with an offset of topic %s", topic, m[2])
		}
		q, _ := strconv.Atoi(string(m[1]))
		got[q], _ = strconv.ParseInt(string(m[3]), 10, 64)
	}
	return got
}

// TestResetOffsetRewindsRunningConsumer consumes batch A, then batch B
// (stored strictly later), then resets the group to the first store time
// after A while its consumer keeps running. The broker answers with each
// queue's first offset of B and pushes RESET_CONSUMER_CLIENT_OFFSET to the
// consumer, which drops its queues and pulls again from there: it gets
// every message of B a second time and none of A.
func TestResetOffsetRewindsRunningConsumer(t *testing.T) {
	p := startPetrel(t)
	const topic, group, queues = "Rewound", "RewoundGroup", 2
	createTopic(t, p, topic, queues)
	prod := newProducer(t, p)
	in := newInbox()
	c := startPushConsumer(t, p, group, topic, "*", in)

	batchA := bodies("before", 10)
	perQueueA := map[int]int64{}
	for _, res := range sendAllSync(t, prod, topic, batchA) {
		perQueueA[res.MessageQueue.QueueId]++ // a new topic: A is offsets 0..n-1 of each queue
	}
	waitDelivered(t, in, batchA, "the consumer")
	var lastA int64
	for _, b := range batchA {
		lastA = max(lastA, in.ByBody()[b].StoreTimestamp)
	}
	// Store times are in milliseconds: send B only once the clock has
	// moved past A's last one, so a timestamp can separate the batches.
	eventually(t, time.Second, func() bool { return time.Now().UnixMilli() > lastA }, func() string { return "the clock stood still" })

	batchB := bodies("after", 10)
	sendAllSync(t, prod, topic, batchB)
	waitDelivered(t, in, batchB, "the consumer")
	for _, b := range batchB {
		if ts := in.ByBody()[b].StoreTimestamp; ts <= lastA {
			t.Fatalf("%s stored at %d, not after batch A's last store time %d", b, ts, lastA)
		}
	}
	total := int64(len(batchA) + len(batchB))
	waitConsumedUpTo(t, c, topic, queues, total)

	got := resetOffsets(t, p, group, topic, lastA+1)
	if !maps.Equal(got, perQueueA) {
		t.Fatalf("reset to %d answered offsets %v, want each queue's first offset after batch A %v", lastA+1, got, perQueueA)
	}

	eventually(t, deliverTimeout, func() bool {
		for _, b := range batchB {
			if in.Count(b) < 2 {
				return false
			}
		}
		return true
	}, func() string {
		var once []string
		for _, b := range batchB {
			if in.Count(b) < 2 {
				once = append(once, b)
			}
		}
		return fmt.Sprintf("after the reset the running consumer did not get again %v", once)
	})
	// Everything the consumer pulled after the reset has been handled once
	// its offsets are back at the end, so a rewind too far would show now.
	waitConsumedUpTo(t, c, topic, queues, total)
	for _, b := range batchA {
		if n := in.Count(b); n != 1 {
			t.Errorf("%s (stored before the reset time) delivered %d times, want once", b, n)
		}
	}
	for _, b := range batchB {
		if n := in.Count(b); n != 2 {
			t.Errorf("%s delivered %d times, want twice (before and after the reset)", b, n)
		}
	}
}

// waitConsumedUpTo waits until c owns every queue of topic and its
// offsets add up to total: it has consumed everything stored.
func waitConsumedUpTo(t *testing.T, c *PushConsumer, topic string, queues int, total int64) {
	t.Helper()
	var owned map[int]int64
	eventually(t, deliverTimeout, func() bool {
		owned = c.OwnedQueues(topic)
		var sum int64
		for _, off := range owned {
			sum += off
		}
		return len(owned) == queues && sum == total
	}, func() string {
		return fmt.Sprintf("consumer's offsets %v do not add up to the %d messages stored", owned, total)
	})
}

// TestConsumeStatsShowBacklog checks GET_CONSUME_STATS (mqadmin
// consumerProgress) for a group that consumed batch A, committed and
// left, while batch B was sent after: per queue, the broker offset counts
// A and B, the consumer offset counts A, their difference is B's backlog,
// and the last timestamp is the store time of the queue's last consumed
// message.
func TestConsumeStatsShowBacklog(t *testing.T) {
	p := startPetrel(t)
	const topic, group, probeTopic, queues = "Lagging", "LaggingGroup", "LaggingProbe", 4
	createTopic(t, p, topic, queues)
	createTopic(t, p, probeTopic, 1)
	mqs, err := publishQueues(t, p, topic)
	if err != nil {
		t.Fatalf("route of %s: %v", topic, err)
	}
	prod := newProducer(t, p)

	batchA := bodies("consumed", 12)
	perQueueA := map[int]int64{}
	for _, res := range sendAllSync(t, prod, topic, batchA) {
		perQueueA[res.MessageQueue.QueueId]++
	}
	in := newInbox()
	c := startPushConsumer(t, p, group, topic, "*", in)
	waitDelivered(t, in, batchA, "the consumer")
	waitConsumedUpTo(t, c, topic, queues, int64(len(batchA)))
	c.Shutdown()
	var committed map[int]int64
	eventually(t, deliverTimeout, func() bool {
		committed = committedOffsets(t, p, group, probeTopic, mqs)
		return maps.Equal(committed, perQueueA)
	}, func() string {
		return fmt.Sprintf("broker reports offsets %v for %s, its consumer committed %v", committed, group, perQueueA)
	})
	lastConsumed := map[int]int64{} // queue -> store time of its last message of A
	for _, m := range in.Messages() {
		if m.QueueOffset == perQueueA[m.Queue.QueueId]-1 {
			lastConsumed[m.Queue.QueueId] = m.StoreTimestamp
		}
	}

	batchB := bodies("backlog", 10)
	backlog := map[int]int64{}
	for _, res := range sendAllSync(t, prod, topic, batchB) {
		backlog[res.MessageQueue.QueueId]++
	}

	// A sent message reaches its consume queue (and the broker offset)
	// asynchronously, as in RocketMQ, so wait for B to show.
	var stats map[int]queueStats
	eventually(t, deliverTimeout, func() bool {
		stats = consumeStats(t, p, group, topic)
		for q, n := range backlog {
			if stats[q].BrokerOffset < perQueueA[q]+n {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("GET_CONSUME_STATS shows %v; want broker offsets counting A %v and B %v", stats, perQueueA, backlog)
	})
	if len(stats) != queues {
		t.Fatalf("GET_CONSUME_STATS lists queues %v of %s, want %d", stats, topic, queues)
	}
	var lag int64
	for q, s := range stats {
		if s.BrokerOffset != perQueueA[q]+backlog[q] || s.ConsumerOffset != perQueueA[q] {
			t.Errorf("queue %d: broker offset %d consumer offset %d, want %d and %d",
				q, s.BrokerOffset, s.ConsumerOffset, perQueueA[q]+backlog[q], perQueueA[q])
		}
		if s.LastTimestamp != lastConsumed[q] {
			t.Errorf("queue %d: last timestamp %d, want %d (store time of the last consumed message)", q, s.LastTimestamp, lastConsumed[q])
		}
		lag += s.BrokerOffset - s.ConsumerOffset
	}
	if lag != int64(len(batchB)) {
		t.Errorf("GET_CONSUME_STATS shows a backlog of %d, want the %d messages sent after the group left", lag, len(batchB))
	}
}
