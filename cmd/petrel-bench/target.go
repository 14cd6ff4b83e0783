package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/petrel-mq/petrel/client"
	"github.com/petrel-mq/petrel/internal/bench"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// petrelTarget drives petrel through its own Go client. Every producer
// and consumer gets its own client instance (InstanceName), hence its own
// connection, as separate processes would and as the NATS peer does.
type petrelTarget struct {
	nameServers []string
	log         *slog.Logger
}

var _ bench.Target = (*petrelTarget)(nil)

func (t *petrelTarget) Name() string { return "petrel" }

func (t *petrelTarget) config(instance string) client.Config {
	return client.Config{NameServers: t.nameServers, InstanceName: instance, Logger: t.log}
}

// Prepare creates the topic with the workload's queue count on every
// broker (auto-creation would give it TBW102's four).
func (t *petrelTarget) Prepare(ctx context.Context, topic string, queues int) error {
	a, err := client.NewAdmin(t.config("bench-admin"))
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer a.Close()
	if err := a.CreateTopic(ctx, client.TopicConfig{Topic: topic, Queues: queues}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}

func (t *petrelTarget) NewPublisher(_ context.Context, topic string, id int) (bench.Publisher, error) {
	p, err := client.NewProducer(client.ProducerConfig{
		Config: t.config("bench-p" + strconv.Itoa(id)),
		Group:  "bench-producer",
		// Bodies are sent as they are: the NATS peer does not compress.
		CompressOver: -1,
	})
	if err != nil {
		return nil, err
	}
	return &petrelPublisher{p: p, topic: topic}, nil
}

func (t *petrelTarget) StartConsumers(ctx context.Context, topic string, n int, deliver func([]byte)) (io.Closer, error) {
	var cs consumers
	for i := range n {
		c, err := client.NewPushConsumer(client.PushConsumerConfig{
			Config:      t.config("bench-c" + strconv.Itoa(i)),
			Group:       "bench-" + topic,
			ConsumeFrom: client.ConsumeFromFirstOffset,
			Listener: func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
				for _, m := range msgs {
					deliver(m.Body)
				}
				return client.ConsumeSuccess
			},
		})
		if err == nil {
			err = c.Subscribe(topic, "*")
			if err == nil {
				err = c.Start(ctx)
			}
			if err != nil {
				err = errors.Join(err, c.Close())
			}
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("consumer %d: %w", i, err), cs.Close())
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// ErrorKind names a send failure by its response code (SYSTEM_BUSY,
// FLUSH_DISK_TIMEOUT...) or, for transport failures, by the sentinel or
// context error it matches.
func (t *petrelTarget) ErrorKind(err error) string {
	var st statusError
	var be *client.BrokerError
	switch {
	case errors.As(err, &st):
		return st.status.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &be) && be.Code != 0:
		return protocol.ResponseName(be.Code)
	case errors.Is(err, client.ErrNoRoute):
		return "no route"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.As(err, &be):
		return "transport"
	}
	return "other"
}

type consumers []*client.PushConsumer

func (cs consumers) Close() error {
	var errs []error
	for _, c := range cs {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// statusError is a send the broker stored but did not acknowledge as
// SEND_OK (FLUSH_DISK_TIMEOUT...): not durable as asked, so not counted as
// sent.
type statusError struct{ status client.SendStatus }

func (e statusError) Error() string { return "send status " + e.status.String() }

func checkStatus(res *client.SendResult, err error) error {
	if err == nil && res.Status != client.SendOK {
		return statusError{res.Status}
	}
	return err
}

type petrelPublisher struct {
	p     *client.Producer
	topic string
}

func (p *petrelPublisher) Send(ctx context.Context, body []byte) error {
	return checkStatus(p.p.Send(ctx, &client.Message{Topic: p.topic, Body: body}))
}

func (p *petrelPublisher) SendAsync(ctx context.Context, body []byte, done func(error)) error {
	return p.p.SendAsync(ctx, &client.Message{Topic: p.topic, Body: body}, func(res *client.SendResult, err error) {
		done(checkStatus(res, err))
	})
}

func (p *petrelPublisher) SendOneway(ctx context.Context, body []byte) error {
	return p.p.SendOneway(ctx, &client.Message{Topic: p.topic, Body: body})
}

func (p *petrelPublisher) SendBatch(ctx context.Context, bodies [][]byte) error {
	msgs := make([]*client.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = &client.Message{Topic: p.topic, Body: b}
	}
	return checkStatus(p.p.Send(ctx, msgs...))
}

func (p *petrelPublisher) Close() error { return p.p.Close() }
