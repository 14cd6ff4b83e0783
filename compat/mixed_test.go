package compat

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/petrel-mq/petrel/client"
)

// mixedQueues is the mixed group's topic size: odd, so the averagely
// strategy gives the member whose client id sorts first one queue more
// than the other (the mod arithmetic must agree), and more than ten, so
// queues sorted by id as strings ("10" before "2") would split differently
// from queues sorted by id as numbers.
const mixedQueues = 11

// TestMixedGroupSplitsQueues runs petrel's Go client and the official Go
// client v2.1.2 as the two members of one clustering group. Each allocates
// on its own from the broker's member list (AllocateMessageQueueAveragely,
// the default of both), so they agree only if both sort client ids and
// queues as the Java client does and do the same arithmetic: each queue
// owned by exactly one of them, every queue owned, the member whose id
// sorts first holding queues 0-5 and the other 6-10. Messages sent to
// every queue then reach each exactly once, from its queue's owner only.
// The subtests start the members in both orders and give petrel's client
// an instance name that sorts before, then after, the official client's.
func TestMixedGroupSplitsQueues(t *testing.T) {
	p := startPetrel(t)
	for _, tc := range []struct {
		name          string
		petrelFirst   bool   // which member starts first
		petrelAtIndex int    // where petrel's client id is meant to sort
		instance      string // petrel's instance name; the official's is compat-push-…
	}{
		{"official starts, petrel joins and sorts first", false, 0, instanceName("a-petrel")},
		{"petrel starts, official joins and sorts first", true, 1, instanceName("z-petrel")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("Mixed%d", tc.petrelAtIndex)
			group := topic + "Group"
			mixedGroup(t, p, topic, group, tc.instance, tc.petrelFirst, tc.petrelAtIndex)
		})
	}
}

func mixedGroup(t *testing.T, p *Petrel, topic, group, petrelInstance string, petrelFirst bool, petrelAtIndex int) {
	createTopic(t, p, topic, mixedQueues)
	mqs, err := publishQueues(t, p, topic)
	if err != nil || len(mqs) != mixedQueues {
		t.Fatalf("route of %s: %d queues, %v", topic, len(mqs), err)
	}

	official, ours := newInbox(), newInbox()
	var oc *PushConsumer
	startOfficial := func() { oc = startPushConsumer(t, p, group, topic, "*", official) }
	if !petrelFirst {
		startOfficial()
	}
	pc := startPetrelClientConsumer(t, p, group, topic, petrelInstance, ours)
	if petrelFirst {
		startOfficial()
	}
	petrelOwned := func() map[int]bool {
		owned := map[int]bool{}
		for _, mq := range pc.Assignment() {
			if mq.Topic == topic {
				owned[mq.QueueID] = true
			}
		}
		return owned
	}
	officialOwned := func() map[int]bool {
		owned := map[int]bool{}
		for q := range oc.OwnedQueues(topic) {
			owned[q] = true
		}
		return owned
	}

	// The broker's member list decides the split: the id that sorts first
	// gets the first ceil(11/2) = 6 queues by id, the other the last 5.
	var ids []string
	eventually(t, deliverTimeout, func() bool {
		ids = consumerIDs(t, p, group)
		return len(ids) == 2
	}, func() string { return fmt.Sprintf("group %s has members %q, want the two clients", group, ids) })
	sort.Strings(ids)
	petrelIndex := slices.IndexFunc(ids, func(id string) bool { return strings.HasSuffix(id, "@"+petrelInstance) })
	if petrelIndex < 0 {
		t.Fatalf("no member id of group %s (%q) is petrel's client, instance %s", group, ids, petrelInstance)
	}
	if petrelIndex != petrelAtIndex {
		// Both clients prefix the instance name with the host's first
		// IPv4 address, but each finds it its own way; on a host where they
		// differ the subtest still checks the split, just not the order it meant.
		t.Logf("petrel's client sorts at index %d, not %d as meant: member ids %q", petrelIndex, petrelAtIndex, ids)
	}
	first, second := rangeSet(0, 6), rangeSet(6, mixedQueues)
	wantPetrel, wantOfficial := first, second
	if petrelIndex == 1 {
		wantPetrel, wantOfficial = second, first
	}

	// Until both have rebalanced on the second member a queue may be owned
	// by both or by neither; once settled, the split must be exactly the
	// averagely strategy's.
	eventually(t, deliverTimeout, func() bool {
		return maps.Equal(petrelOwned(), wantPetrel) && maps.Equal(officialOwned(), wantOfficial)
	}, func() string {
		return fmt.Sprintf("members %q: petrel's client owns queues %v (want %v), the official client %v (want %v)",
			ids, sortedKeys(petrelOwned()), sortedKeys(wantPetrel), sortedKeys(officialOwned()), sortedKeys(wantOfficial))
	})

	// Send to every queue and see each message reach its queue's owner.
	prod := newProducer(t, p, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	queueOf := map[string]int{}
	var all []string
	for _, mq := range mqs {
		for i := range 4 {
			b := fmt.Sprintf("mixed-q%02d-m%d", mq.QueueId, i)
			msg := primitive.NewMessage(topic, []byte(b))
			msg.Queue = mq
			res, err := prod.SendSync(opContext(t), msg)
			if err != nil || res.Status != primitive.SendOK {
				t.Fatalf("SendSync %s: %v %v", b, res, err)
			}
			if res.MessageQueue.QueueId != mq.QueueId {
				t.Fatalf("%s went to queue %d, want %d", b, res.MessageQueue.QueueId, mq.QueueId)
			}
			queueOf[b] = mq.QueueId
			all = append(all, b)
		}
	}
	eventually(t, deliverTimeout, func() bool {
		for _, b := range all {
			if official.Count(b)+ours.Count(b) == 0 {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("messages missing: petrel's client got %d, the official client %d, of %d",
			ours.Len(), official.Len(), len(all))
	})
	for _, b := range all {
		q := queueOf[b]
		o, n := ours.Count(b), official.Count(b)
		switch {
		case o+n != 1:
			t.Errorf("%s (queue %d) delivered %d times to petrel's client and %d to the official one, want once", b, q, o, n)
		case o == 1 && !wantPetrel[q]:
			t.Errorf("%s of queue %d, the official client's, was delivered to petrel's client", b, q)
		case n == 1 && !wantOfficial[q]:
			t.Errorf("%s of queue %d, petrel's client's, was delivered to the official client", b, q)
		}
	}
	// Nothing moved while the messages were consumed.
	if !maps.Equal(petrelOwned(), wantPetrel) || !maps.Equal(officialOwned(), wantOfficial) {
		t.Errorf("the split changed with no member change: petrel's client owns %v, the official client %v",
			sortedKeys(petrelOwned()), sortedKeys(officialOwned()))
	}
	t.Logf("members %q: petrel's client owns queues %v and consumed %d, the official client %v and %d",
		ids, sortedKeys(petrelOwned()), ours.Len(), sortedKeys(officialOwned()), official.Len())
}

// startPetrelClientConsumer starts a clustering push consumer of petrel's
// own client (github.com/petrel-mq/petrel/client) on topic, reading from
// the first offset, delivering into in; it is closed when t ends, and its
// log is printed if t failed.
func startPetrelClientConsumer(t *testing.T, p *Petrel, group, topic, instance string, in *Inbox) *client.PushConsumer {
	t.Helper()
	logs := &lockedBuffer{}
	c, err := client.NewPushConsumer(client.PushConsumerConfig{
		Config: client.Config{
			NameServers:  []string{p.NamesrvAddr},
			InstanceName: instance,
			Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
		Group:       group,
		Model:       client.Clustering,
		ConsumeFrom: client.ConsumeFromFirstOffset,
		Strategy:    client.AllocateAveragely{},
		Listener: func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			for _, m := range msgs {
				in.Add(&primitive.MessageExt{Message: primitive.Message{Topic: m.Topic, Body: m.Body}})
			}
			return client.ConsumeSuccess
		},
	})
	if err != nil {
		t.Fatalf("petrel client: new push consumer: %v", err)
	}
	if err := c.Subscribe(topic, "*"); err != nil {
		t.Fatalf("petrel client: subscribe %s: %v", topic, err)
	}
	if err := c.Start(opContext(t)); err != nil {
		t.Fatalf("petrel client: start push consumer of %s: %v", group, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("petrel client: close push consumer: %v", err)
		}
		if t.Failed() {
			t.Logf("petrel client's log:\n%s", logs.String())
		}
	})
	return c
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rangeSet is the set of queue ids from lo to hi-1.
func rangeSet(lo, hi int) map[int]bool {
	s := map[int]bool{}
	for q := lo; q < hi; q++ {
		s[q] = true
	}
	return s
}

func sortedKeys(s map[int]bool) []int {
	return slices.Sorted(maps.Keys(s))
}
