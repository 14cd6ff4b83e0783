package compat

import (
	"testing"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// TestAdminCreateAndDeleteTopic creates a topic with the admin API on a
// broker that does not auto-create topics, uses it, deletes it, and checks
// that the route is gone: a new producer can no longer send to it.
func TestAdminCreateAndDeleteTopic(t *testing.T) {
	p := startPetrel(t, "autoCreateTopicEnable=false")
	const topic = "AdminManaged"

	if mqs, err := publishQueues(t, p, topic); err == nil {
		t.Fatalf("route of %s before it was created: %v", topic, mqs)
	}
	before := newProducer(t, p)
	if res, err := before.SendSync(opContext(t), primitive.NewMessage(topic, []byte("too-early"))); err == nil {
		t.Fatalf("send to a topic that does not exist with autoCreateTopicEnable=false succeeded: %v", res)
	}

	adm := newAdmin(t, p)
	err := adm.CreateTopic(opContext(t), admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(p.BrokerAddr),
		admin.WithReadQueueNums(3), admin.WithWriteQueueNums(3))
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// The broker registers a new topic with the name server before it
	// replies, so the route is there at once.
	mqs, err := publishQueues(t, p, topic)
	if err != nil || len(mqs) != 3 {
		t.Fatalf("route right after CreateTopic: %v queues, error %v; want 3 queues", mqs, err)
	}

	prod := newProducer(t, p)
	all := bodies("admin", 12)
	results := sendAllSync(t, prod, topic, all)
	usedQueues := map[int]bool{}
	for _, r := range results {
		usedQueues[r.MessageQueue.QueueId] = true
	}
	if len(usedQueues) != 3 {
		t.Errorf("12 round-robin sends used queues %v, want all 3", usedQueues)
	}
	in := newInbox()
	c := startPushConsumer(t, p, "AdminManagedGroup", topic, "*", in)
	waitDelivered(t, in, all, "the consumer")
	c.Shutdown()

	if err := adm.DeleteTopic(opContext(t), admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(p.BrokerAddr)); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if mqs, err := publishQueues(t, p, topic); err == nil {
		t.Errorf("route of %s still served after DeleteTopic: %v", topic, mqs)
	}
	after := newProducer(t, p)
	if res, err := after.SendSync(opContext(t), primitive.NewMessage(topic, []byte("too-late"))); err == nil {
		t.Errorf("a new producer sent to deleted topic %s: %v", topic, res)
	} else {
		t.Logf("send after delete failed as it should: %v", err)
	}
}

// TestAutoCreateTopicOnSend sends to a topic nobody created on a broker
// with autoCreateTopicEnable=true: the producer falls back to the default
// topic's route, the broker creates the topic on the first send and
// registers it, and a consumer started afterwards gets every message.
func TestAutoCreateTopicOnSend(t *testing.T) {
	p := startPetrel(t, "autoCreateTopicEnable=true")
	const topic = "AutoCreated"
	if mqs, err := publishQueues(t, p, topic); err == nil {
		t.Fatalf("route of %s before the first send: %v", topic, mqs)
	}

	prod := newProducer(t, p)
	all := bodies("auto", 10)
	sendAllSync(t, prod, topic, all)
	mqs, err := publishQueues(t, p, topic)
	if err != nil || len(mqs) == 0 {
		t.Fatalf("route of %s after sends that created it: %v, error %v", topic, mqs, err)
	}
	t.Logf("auto-created %s with %d queues", topic, len(mqs))

	in := newInbox()
	startPushConsumer(t, p, "AutoCreatedGroup", topic, "*", in)
	waitDelivered(t, in, all, "the consumer")
	if d := in.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate deliveries with no failure in play: %v", d)
	}
}
