package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/petrel-mq/petrel/client"
)

// The name server of a local `petrel serve`.
var nameServers = []string{"127.0.0.1:9876"}

func ExampleProducer_Send() {
	p, err := client.NewProducer(client.ProducerConfig{
		Config: client.Config{NameServers: nameServers},
		Group:  "orders",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{
		Topic: "OrderCreated",
		Body:  []byte(`{"order":42}`),
		Tags:  "paid",
		Keys:  []string{"order-42"},
	})
	var be *client.BrokerError
	switch {
	case errors.Is(err, client.ErrMessageIllegal):
		log.Fatal("the broker refused the message: ", err)
	case errors.As(err, &be):
		log.Fatalf("broker %s (%s) failed: %v", be.Broker, be.Addr, err)
	case err != nil:
		log.Fatal(err)
	}
	if res.Status != client.SendOK {
		// Stored, but not flushed or replicated in time.
		log.Printf("message %s stored as %v", res.MsgID, res.Status)
	}
	fmt.Println(res.MsgID, res.Queue)
}

func ExampleProducer_SendAsync() {
	p, err := client.NewProducer(client.ProducerConfig{Config: client.Config{NameServers: nameServers}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close() // waits for the callbacks of the sends below

	for i := range 1000 {
		msg := client.NewMessage("Metrics", fmt.Appendf(nil, "sample %d", i))
		err := p.SendAsync(context.Background(), msg, func(res *client.SendResult, err error) {
			if err != nil {
				log.Print(err)
			}
		})
		if err != nil {
			log.Fatal(err)
		}
	}
}

func ExampleProducer_Send_batch() {
	p, err := client.NewProducer(client.ProducerConfig{Config: client.Config{NameServers: nameServers}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	// Several messages of one topic are one request, stored in one queue.
	res, err := p.Send(context.Background(),
		client.NewMessage("Audit", []byte("a")),
		client.NewMessage("Audit", []byte("b")),
		client.NewMessage("Audit", []byte("c")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.MsgID) // three ids, comma-separated
}

func ExampleMessage_delayed() {
	p, err := client.NewProducer(client.ProducerConfig{Config: client.Config{NameServers: nameServers}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	// Delivered after 10 s (level 3 of 1s 5s 10s 30s 1m ...).
	p.Send(ctx, &client.Message{Topic: "Reminders", Body: []byte("ping"), DelayLevel: 3})
	// Delivered at an exact time.
	p.Send(ctx, &client.Message{Topic: "Reminders", Body: []byte("pong"), DeliverAt: time.Now().Add(90 * time.Minute)})
}

func ExampleHashSelector() {
	// Messages with one sharding key go to one queue, in send order.
	p, err := client.NewProducer(client.ProducerConfig{
		Config:   client.Config{NameServers: nameServers},
		Selector: client.HashSelector{},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for _, step := range []string{"created", "paid", "shipped"} {
		p.Send(context.Background(), &client.Message{Topic: "OrderSteps", Body: []byte(step), ShardingKey: "order-42"})
	}
}

// payments is an application's transaction listener.
type payments struct{}

func (payments) ExecuteLocal(ctx context.Context, msg *client.Message, res *client.SendResult) client.TransactionState {
	// Write the payment and remember res.MsgID in the same database
	// transaction; commit the message if that succeeded.
	return client.TransactionCommit
}

func (payments) CheckLocal(ctx context.Context, msg *client.MessageExt) client.TransactionState {
	// Look msg.MsgID up in the database: commit if the payment exists.
	return client.TransactionRollback
}

func ExampleProducer_SendInTransaction() {
	p, err := client.NewProducer(client.ProducerConfig{
		Config:              client.Config{NameServers: nameServers},
		Group:               "payments",
		TransactionListener: payments{},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	res, err := p.SendInTransaction(context.Background(), client.NewMessage("PaymentDone", []byte("order 42")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.MsgID, res.State)
}

func ExamplePushConsumer() {
	c, err := client.NewPushConsumer(client.PushConsumerConfig{
		Config:      client.Config{NameServers: nameServers},
		Group:       "billing",
		ConsumeFrom: client.ConsumeFromFirstOffset,
		Listener: func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			for _, m := range msgs {
				if err := charge(ctx, m.Body); err != nil {
					// Sent back to the broker and redelivered later (10 s,
					// 30 s, 1 min, ...); after 16 attempts it goes to
					// %DLQ%billing.
					return client.ReconsumeLater
				}
			}
			return client.ConsumeSuccess
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Subscribe("OrderCreated", "paid || refunded"); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// ... until shutdown: Close waits for listener calls in progress and
	// commits the offsets consumed.
	defer c.Close()
}

func ExamplePushConsumer_orderly() {
	c, err := client.NewPushConsumer(client.PushConsumerConfig{
		Config: client.Config{NameServers: nameServers},
		Group:  "ledger",
		// Each queue's messages in order, one call at a time; messages sent
		// with a ShardingKey and HashSelector share a queue per key.
		Orderly: func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			if err := apply(ctx, msgs[0].Body); err != nil {
				return client.SuspendCurrentQueueAMoment // retried in place
			}
			return client.ConsumeSuccess
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	c.Subscribe("AccountEvents", "*")
	if err := c.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExamplePullConsumer() {
	c, err := client.NewPullConsumer(client.PullConsumerConfig{
		Config: client.Config{NameServers: nameServers},
		Group:  "exporter",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	queues, err := c.Queues(ctx, "OrderCreated")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Assign(ctx, "*", queues...); err != nil {
		log.Fatal(err)
	}
	for {
		msgs, err := c.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range msgs {
			fmt.Println(m.Queue, m.QueueOffset, len(m.Body))
		}
		if err := c.Commit(ctx); err != nil {
			log.Print(err)
		}
	}
}

// A pull consumer can also subscribe: the group's members then share the
// topic's queues and rebalance as members come and go.
func ExamplePullConsumer_Subscribe() {
	c, err := client.NewPullConsumer(client.PullConsumerConfig{
		Config: client.Config{NameServers: nameServers},
		Group:  "exporter",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Subscribe(ctx, "OrderCreated", "paid"); err != nil {
		log.Fatal(err)
	}
	for {
		msgs, err := c.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(msgs), "messages")
		if err := c.Commit(ctx); err != nil {
			log.Print(err)
		}
	}
}

// An operator (or a dashboard) asks a consumer how it is doing.
func ExampleAdmin_ConsumerRunningInfo() {
	a, err := client.NewAdmin(client.Config{NameServers: nameServers})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	info, err := a.ConsumerRunningInfo(context.Background(), "billing", "10.0.0.7@billing-1", false)
	if err != nil {
		log.Fatal(err)
	}
	for mq, q := range info.Queues {
		fmt.Println(mq, "committed", q.CommitOffset, "cached", q.CachedMsgCount)
	}
}

func ExampleAdmin_ConsumeStats() {
	a, err := client.NewAdmin(client.Config{NameServers: nameServers})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	stats, err := a.ConsumeStats(context.Background(), "billing", "OrderCreated")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stats {
		fmt.Printf("%s lag %d\n", s.Queue, s.Lag)
	}
}

func charge(context.Context, []byte) error { return nil }
func apply(context.Context, []byte) error  { return nil }
