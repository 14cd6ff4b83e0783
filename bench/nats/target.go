package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-mq/petrel/internal/bench"
)

// natsTarget drives NATS JetStream. Every publisher and consumer has its
// own connection, as petrel-bench gives each its own client instance.
type natsTarget struct {
	url    string
	window int
	queues int
	stream string // created by Prepare, deleted by cleanup
}

var _ bench.Target = (*natsTarget)(nil)

func (t *natsTarget) Name() string { return "nats" }

func (t *natsTarget) connect() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(t.url, nats.Name("petrel-bench"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", t.url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(t.window, 1)))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// streamName turns a topic into a stream name (no dots or wildcards).
func streamName(topic string) string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(topic)
}

func (t *natsTarget) Prepare(ctx context.Context, topic string, queues int) error {
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	t.queues = queues
	t.stream = streamName(topic)
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     t.stream,
		Subjects: []string{topic + ".>"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", t.stream, err)
	}
	return nil
}

// cleanup deletes the run's stream so repeated runs do not fill the
// server's disk.
func (t *natsTarget) cleanup() {
	if t.stream == "" {
		return
	}
	nc, js, err := t.connect()
	if err != nil {
		return
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, t.stream) // best effort: the server's data dir is temporary anyway
}

func (t *natsTarget) NewPublisher(_ context.Context, topic string, id int) (bench.Publisher, error) {
	nc, js, err := t.connect()
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc, js: js, next: id, pending: make(chan pendingAck, t.window+1)}
	for q := range t.queues {
		p.subjects = append(p.subjects, topic+"."+strconv.Itoa(q))
	}
	p.waiter.Go(p.waitAcks)
	return p, nil
}

func (t *natsTarget) StartConsumers(ctx context.Context, topic string, n int, deliver func([]byte)) (io.Closer, error) {
	var cs natsConsumers
	for i := range n {
		nc, js, err := t.connect()
		if err != nil {
			return nil, errors.Join(err, cs.Close())
		}
		cs = append(cs, natsConsumer{nc: nc})
		cons, err := js.CreateOrUpdateConsumer(ctx, streamName(topic), jetstream.ConsumerConfig{
			Durable:       "bench",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("consumer %d: %w", i, err), cs.Close())
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			deliver(m.Data())
			_ = m.Ack() // fire and forget, as petrel's offsets are committed in the background
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("consumer %d: %w", i, err), cs.Close())
		}
		cs[len(cs)-1].cc = cc
	}
	return cs, nil
}

func (t *natsTarget) ErrorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout"
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return "no responders"
	case errors.Is(err, nats.ErrConnectionClosed):
		return "closed"
	case errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return "stalled"
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return "api " + strconv.Itoa(int(apiErr.ErrorCode))
	}
	return "other"
}

type natsConsumer struct {
	nc *nats.Conn
	cc jetstream.ConsumeContext
}

type natsConsumers []natsConsumer

func (cs natsConsumers) Close() error {
	for _, c := range cs {
		if c.cc != nil {
			c.cc.Stop()
		}
		c.nc.Close()
	}
	return nil
}

// pendingAck is an async publish waiting for its PubAck.
type pendingAck struct {
	f    jetstream.PubAckFuture
	done func(error)
}

// natsPublisher publishes round robin over the topic's subjects. Async
// acks are awaited by one goroutine in publish order (the server answers
// in order), so there is no goroutine per message.
type natsPublisher struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subjects []string
	next     int
	pending  chan pendingAck
	waiter   sync.WaitGroup
}

func (p *natsPublisher) subject() string {
	s := p.subjects[p.next%len(p.subjects)]
	p.next++
	return s
}

func (p *natsPublisher) waitAcks() {
	for a := range p.pending {
		select {
		case <-a.f.Ok():
			a.done(nil)
		case err := <-a.f.Err():
			a.done(err)
		}
	}
}

func (p *natsPublisher) Send(ctx context.Context, body []byte) error {
	_, err := p.js.Publish(ctx, p.subject(), body)
	return err
}

func (p *natsPublisher) SendAsync(_ context.Context, body []byte, done func(error)) error {
	f, err := p.js.PublishAsync(p.subject(), body)
	if err != nil {
		return err
	}
	p.pending <- pendingAck{f: f, done: done}
	return nil
}

func (p *natsPublisher) SendOneway(_ context.Context, body []byte) error {
	return p.nc.Publish(p.subject(), body)
}

func (p *natsPublisher) SendBatch(ctx context.Context, bodies [][]byte) error {
	subj := p.subject()
	fs := make([]jetstream.PubAckFuture, 0, len(bodies))
	for _, b := range bodies {
		f, err := p.js.PublishAsync(subj, b)
		if err != nil {
			return err
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *natsPublisher) Close() error {
	close(p.pending)
	p.waiter.Wait()
	p.nc.Close()
	return nil
}
