package client

import (
	"fmt"
	"slices"
	"testing"
)

func queuesOf(broker string, n int) []MessageQueue {
	out := make([]MessageQueue, n)
	for i := range out {
		out[i] = MessageQueue{Topic: "T", BrokerName: broker, QueueID: i}
	}
	return out
}

func ids(qs []MessageQueue) string {
	s := ""
	for _, q := range qs {
		s += fmt.Sprintf("%s#%d ", q.BrokerName, q.QueueID)
	}
	return s
}

// The expected outputs follow AllocateMessageQueueAveragely.allocate of
// the Java client by hand: index = position in the sorted client ids,
// mod = |mq| % |cid|, averageSize = 1 if |mq| <= |cid| else |mq|/|cid|
// (+1 when index < mod), startIndex = index*averageSize (+mod when index
// >= mod), range = min(averageSize, |mq| - startIndex).
func TestAllocateAveragelyMatchesJava(t *testing.T) {
	b := queuesOf("b", 8)
	two := append(queuesOf("broker-b", 2), queuesOf("broker-a", 2)...) // unsorted on purpose
	eleven := queuesOf("b", 11)
	slices.Reverse(eleven) // unsorted on purpose; as strings "10" would sort before "2"
	for _, tc := range []struct {
		name   string
		queues []MessageQueue
		cids   []string
		want   map[string]string
	}{
		{"8 queues 3 members", b, []string{"c2", "c0", "c1"},
			map[string]string{"c0": "b#0 b#1 b#2 ", "c1": "b#3 b#4 b#5 ", "c2": "b#6 b#7 "}},
		{"5 queues 3 members", b[:5], []string{"c0", "c1", "c2"},
			map[string]string{"c0": "b#0 b#1 ", "c1": "b#2 b#3 ", "c2": "b#4 "}},
		{"4 queues 3 members (the spec's example)", b[:4], []string{"c0", "c1", "c2"},
			map[string]string{"c0": "b#0 b#1 ", "c1": "b#2 ", "c2": "b#3 "}},
		{"fewer queues than members", b[:2], []string{"c0", "c1", "c2"},
			map[string]string{"c0": "b#0 ", "c1": "b#1 ", "c2": ""}},
		{"client ids sort as strings", b[:3], []string{"c2", "c10", "c1"},
			map[string]string{"c1": "b#0 ", "c10": "b#1 ", "c2": "b#2 "}},
		{"queues sort by broker then id", two, []string{"192.168.0.2@2", "192.168.0.1@1"},
			map[string]string{"192.168.0.1@1": "broker-a#0 broker-a#1 ", "192.168.0.2@2": "broker-b#0 broker-b#1 "}},
		{"queue ids sort as numbers", eleven, []string{"c1", "c0"},
			map[string]string{"c0": "b#0 b#1 b#2 b#3 b#4 b#5 ", "c1": "b#6 b#7 b#8 b#9 b#10 "}},
		{"not a member", b, []string{"c0"}, map[string]string{"stranger": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for cid, want := range tc.want {
				if got := ids(AllocateAveragely{}.Allocate(cid, tc.queues, tc.cids)); got != want {
					t.Errorf("%s gets %q, want %q", cid, got, want)
				}
			}
		})
	}
}

func TestAllocateByCircleMatchesJava(t *testing.T) {
	b := queuesOf("b", 5)
	for cid, want := range map[string]string{"c0": "b#0 b#2 b#4 ", "c1": "b#1 b#3 "} {
		if got := ids(AllocateByCircle{}.Allocate(cid, b, []string{"c1", "c0"})); got != want {
			t.Errorf("%s gets %q, want %q", cid, got, want)
		}
	}
}

// Every strategy splits the queues among members without overlap or gap.
func TestStrategiesPartition(t *testing.T) {
	qs := append(queuesOf("a", 7), queuesOf("b", 9)...)
	for _, s := range []AllocateStrategy{AllocateAveragely{}, AllocateByCircle{}, AllocateConsistentHash{}} {
		for n := 1; n <= 20; n++ {
			var cids []string
			for i := range n {
				cids = append(cids, fmt.Sprintf("10.0.0.%d@%d", i, i))
			}
			seen := map[MessageQueue]int{}
			for _, cid := range cids {
				for _, q := range s.Allocate(cid, qs, cids) {
					seen[q]++
				}
			}
			if len(seen) != len(qs) {
				t.Fatalf("%s with %d members covers %d of %d queues", s.Name(), n, len(seen), len(qs))
			}
			for q, k := range seen {
				if k != 1 {
					t.Fatalf("%s with %d members gives %s to %d members", s.Name(), n, q, k)
				}
			}
		}
	}
}

// A member joining a consistent-hash group takes queues only from others,
// never shuffling queues between the members who stay.
func TestConsistentHashMovesOnlyToTheNewMember(t *testing.T) {
	qs := queuesOf("b", 32)
	before := []string{"m1", "m2", "m3"}
	after := append(slices.Clone(before), "m4")
	s := AllocateConsistentHash{}
	for _, cid := range before {
		was := s.Allocate(cid, qs, before)
		for _, q := range s.Allocate(cid, qs, after) {
			if !slices.Contains(was, q) {
				t.Fatalf("%s gained %s when m4 joined", cid, q)
			}
		}
	}
	if len(s.Allocate("m4", qs, after)) == 0 {
		t.Fatal("the new member got nothing")
	}
}
