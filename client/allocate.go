package client

import (
	"crypto/md5"
	"slices"
	"sort"
	"strconv"
)

// AllocateStrategy decides which of a topic's queues a member of a
// clustering group consumes. Every member computes it on the same inputs
// (all queues of the topic and all client ids of the group, both sorted
// as the Java client sorts them), so the members agree without talking to
// each other; members of one group must use the same strategy.
type AllocateStrategy interface {
	// Allocate returns the queues of clientID; it returns nothing when
	// clientID is not among clientIDs.
	Allocate(clientID string, queues []MessageQueue, clientIDs []string) []MessageQueue
	// Name is RocketMQ's name of the strategy.
	Name() string
}

// sortForAllocation sorts queues and client ids as the Java client does
// before allocating (MessageQueue.compareTo: topic, broker name, queue id;
// client ids as strings), so Go and Java members of one group agree.
func sortForAllocation(queues []MessageQueue, clientIDs []string) ([]MessageQueue, []string) {
	qs := slices.Clone(queues)
	slices.SortFunc(qs, compareQueues)
	ids := slices.Clone(clientIDs)
	slices.Sort(ids)
	return qs, ids
}

func compareQueues(a, b MessageQueue) int {
	switch {
	case a.Topic != b.Topic:
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	case a.BrokerName != b.BrokerName:
		if a.BrokerName < b.BrokerName {
			return -1
		}
		return 1
	}
	return a.QueueID - b.QueueID
}

// AllocateAveragely gives each member a contiguous range of the sorted
// queues, the first (queues mod members) members one more: the Java
// client's AllocateMessageQueueAveragely, arithmetic included, so a
// mixed-language group splits queues without overlap.
type AllocateAveragely struct{}

// Name is "AVG".
func (AllocateAveragely) Name() string { return "AVG" }

// Allocate implements AllocateStrategy.
func (AllocateAveragely) Allocate(clientID string, queues []MessageQueue, clientIDs []string) []MessageQueue {
	mqAll, cidAll := sortForAllocation(queues, clientIDs)
	index := slices.Index(cidAll, clientID)
	if index < 0 || len(mqAll) == 0 {
		return nil
	}
	mod := len(mqAll) % len(cidAll)
	averageSize := 1
	if len(mqAll) > len(cidAll) {
		averageSize = len(mqAll) / len(cidAll)
		if mod > 0 && index < mod {
			averageSize++
		}
	}
	startIndex := index*averageSize + mod
	if mod > 0 && index < mod {
		startIndex = index * averageSize
	}
	n := min(averageSize, len(mqAll)-startIndex)
	var out []MessageQueue
	for i := 0; i < n; i++ {
		out = append(out, mqAll[(startIndex+i)%len(mqAll)])
	}
	return out
}

// AllocateByCircle deals the sorted queues out one by one in member order:
// the Java client's AllocateMessageQueueAveragelyByCircle.
type AllocateByCircle struct{}

// Name is "AVG_BY_CIRCLE".
func (AllocateByCircle) Name() string { return "AVG_BY_CIRCLE" }

// Allocate implements AllocateStrategy.
func (AllocateByCircle) Allocate(clientID string, queues []MessageQueue, clientIDs []string) []MessageQueue {
	mqAll, cidAll := sortForAllocation(queues, clientIDs)
	index := slices.Index(cidAll, clientID)
	if index < 0 {
		return nil
	}
	var out []MessageQueue
	for i := index; i < len(mqAll); i++ {
		if i%len(cidAll) == index {
			out = append(out, mqAll[i])
		}
	}
	return out
}

// AllocateConsistentHash places members on a hash ring with VirtualNodes
// points each (default 10) and gives each queue to the next member on the
// ring, so a member joining or leaving moves few queues: the Java client's
// AllocateMessageQueueConsistentHash (MD5, the first four digest bytes,
// virtual node keys "<clientId>-<i>", queue keys MessageQueue.toString()).
type AllocateConsistentHash struct {
	VirtualNodes int
}

// Name is "CONSISTENT_HASH".
func (AllocateConsistentHash) Name() string { return "CONSISTENT_HASH" }

// Allocate implements AllocateStrategy.
func (s AllocateConsistentHash) Allocate(clientID string, queues []MessageQueue, clientIDs []string) []MessageQueue {
	mqAll, cidAll := sortForAllocation(queues, clientIDs)
	if !slices.Contains(cidAll, clientID) {
		return nil
	}
	vn := s.VirtualNodes
	if vn <= 0 {
		vn = 10
	}
	type point struct {
		hash int64
		cid  string
	}
	ring := make([]point, 0, len(cidAll)*vn)
	for _, cid := range cidAll {
		for i := range vn {
			ring = append(ring, point{ringHash(cid + "-" + strconv.Itoa(i)), cid})
		}
	}
	// Java keeps the ring in a TreeMap: a later node with the same hash
	// replaces an earlier one. Stable sort, then keep the last of equals.
	sort.SliceStable(ring, func(i, j int) bool { return ring[i].hash < ring[j].hash })
	dedup := ring[:0]
	for _, p := range ring {
		if n := len(dedup); n > 0 && dedup[n-1].hash == p.hash {
			dedup[n-1] = p
			continue
		}
		dedup = append(dedup, p)
	}
	ring = dedup
	var out []MessageQueue
	for _, mq := range mqAll {
		h := ringHash("MessageQueue [topic=" + mq.Topic + ", brokerName=" + mq.BrokerName + ", queueId=" + strconv.Itoa(mq.QueueID) + "]")
		i := sort.Search(len(ring), func(i int) bool { return ring[i].hash >= h })
		if i == len(ring) {
			i = 0
		}
		if ring[i].cid == clientID {
			out = append(out, mq)
		}
	}
	return out
}

// ringHash is ConsistentHashRouter.MD5Hash: the first four bytes of the
// MD5 digest, big-endian, as a non-negative long.
func ringHash(key string) int64 {
	d := md5.Sum([]byte(key))
	var h int64
	for i := range 4 {
		h <<= 8
		h |= int64(d[i]) & 0xFF
	}
	return h
}
