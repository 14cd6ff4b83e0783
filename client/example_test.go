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
