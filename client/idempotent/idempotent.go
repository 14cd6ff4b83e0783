// Package idempotent makes consumers of petrel's Go client apply each
// message's effect once although delivery is at least once: producer
// retries, the spool and the outbox resend under the same id, rebalances
// and crashes before an offset commit redeliver.
//
// A wrapper takes a dedup key from each message (its id, UNIQ_KEY, by
// default; or a business key), runs the handler only if that key has not
// been completed, and records completion:
//
//   - SQLStore records it in a table with a unique key, inside the same
//     *sql.Tx the handler writes its effect in: effect and mark commit
//     together or not at all, an exactly-once effect. Two deliveries of
//     one key at once serialize on the unique key.
//   - RedisStore is for effects outside a database (a call to another
//     service): SET NX with a TTL marks the key as processing, completion
//     marks it done (kept DoneTTL), a failure deletes the mark so the
//     redelivery can run, and a consumer that crashes mid-processing
//     leaves a processing mark that expires after ProcessingTTL. The
//     effect and the mark are not atomic: a crash between them repeats
//     the effect, so it should itself tolerate that rarely.
//
// Handlers are per message; Listener and OrderlyListener adapt one to the
// client's batch listeners.
package idempotent

import (
	"context"
	"errors"

	"github.com/petrel-mq/petrel/client"
)

// Handler handles one message; an error means it was not handled and
// must be delivered again.
type Handler func(ctx context.Context, m *client.MessageExt) error

// KeyFunc returns a message's dedup key; "" falls back to the message id.
type KeyFunc func(m *client.MessageExt) string

// ErrInProgress: another consumer is processing the key now (Redis
// store); the message is retried later, when that one finished or its
// mark expired.
var ErrInProgress = errors.New("idempotent: the message is being processed elsewhere")

func keyOf(f KeyFunc, m *client.MessageExt) string {
	if f != nil {
		if k := f(m); k != "" {
			return k
		}
	}
	return m.MsgID
}

// Listener adapts h to a concurrent consumer's listener: the batch is
// done when h handled every message; otherwise it is reconsumed, and the
// messages already completed are skipped on redelivery by the store.
func Listener(h Handler) client.ConcurrentListener {
	return func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		return handleAll(ctx, h, msgs)
	}
}

// OrderlyListener adapts h to an orderly consumer's listener.
func OrderlyListener(h Handler) client.OrderlyListener {
	return func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		return handleAll(ctx, h, msgs)
	}
}

func handleAll(ctx context.Context, h Handler, msgs []*client.MessageExt) client.ConsumeResult {
	for _, m := range msgs {
		if err := h(ctx, m); err != nil {
			return client.ReconsumeLater
		}
	}
	return client.ConsumeSuccess
}
