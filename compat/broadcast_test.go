package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/consumer"
)

// TestBroadcastingConsumersEachGetEverything runs two push consumers of
// one group in broadcasting mode: unlike clustering, each owns every queue
// and receives every message, exactly once.
func TestBroadcastingConsumersEachGetEverything(t *testing.T) {
	p := startPetrel(t)
	const topic, group, queues = "Broadcast", "BroadcastGroup", 4
	createTopic(t, p, topic, queues)

	var ins []*Inbox
	var cs []*PushConsumer
	for range 2 {
		inst := instanceName("broadcast")
		removeLocalOffsets(t, group, inst)
		in := newInbox()
		c := startPushConsumer(t, p, group, topic, "*", in,
			consumer.WithConsumerModel(consumer.BroadCasting), consumer.WithInstance(inst))
		ins, cs = append(ins, in), append(cs, c)
	}
	for i, c := range cs {
		eventually(t, deliverTimeout, func() bool { return len(c.OwnedQueues(topic)) == queues }, func() string {
			return fmt.Sprintf("broadcasting consumer %d owns queues %v, want all %d", i+1, c.OwnedQueues(topic), queues)
		})
	}

	all := bodies("broadcast", 40)
	sendAllSync(t, newProducer(t, p), topic, all)
	for i, in := range ins {
		waitDelivered(t, in, all, fmt.Sprintf("broadcasting consumer %d", i+1))
	}
	for i, in := range ins {
		if d := in.Duplicates(); len(d) > 0 {
			t.Errorf("broadcasting consumer %d got duplicates with no failure in play: %v", i+1, d)
		}
		if in.Len() != len(all) {
			t.Errorf("broadcasting consumer %d got %d deliveries, want %d", i+1, in.Len(), len(all))
		}
	}
}

// removeLocalOffsets deletes, when t ends, the offset file a broadcasting
// consumer of group and instance inst leaves behind: the Go client keeps
// broadcasting offsets on local disk, in
// <root>/<group>/<client id>/offset.json where root is
// $rocketmq.client.localOffsetStoreDir or ~/.rocketmq_client_go and the
// client id is ip@instance.
func removeLocalOffsets(t *testing.T, group, inst string) {
	root := os.Getenv("rocketmq.client.localOffsetStoreDir")
	if root == "" {
		root = filepath.Join(os.Getenv("HOME"), ".rocketmq_client_go")
	}
	_, statErr := os.Stat(root)
	rootExisted := statErr == nil
	// Registered before the consumer's own cleanup, so it runs after the
	// consumer's Shutdown wrote the file.
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(root, group, "*@"+inst))
		for _, d := range dirs {
			os.RemoveAll(d)
		}
		// Only if empty: other consumers may keep offsets there.
		os.Remove(filepath.Join(root, group))
		if !rootExisted {
			os.Remove(root)
		}
	})
}
