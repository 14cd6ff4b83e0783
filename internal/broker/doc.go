// Package broker is petrel's RocketMQ broker: it answers the remoting
// requests of producers, consumers and admin tools on top of the message
// store, keeps the broker's metadata (topics, subscription groups, consumer
// offsets, the client registry), holds long-polling pulls until messages
// arrive, and registers itself with the name servers.
//
// One file per request family: send.go (SEND_MESSAGE, SEND_MESSAGE_V2,
// SEND_BATCH_MESSAGE), pull.go and longpoll.go (PULL_MESSAGE), offsets.go
// (consumer offsets and queue offset queries), clients.go (HEART_BEAT and
// the registry), admin.go (topics), query.go (QUERY_MESSAGE,
// VIEW_MESSAGE_BY_ID). codes.go maps store errors to response codes in one
// place.
//
// Data path of a send: the remoting server runs the handler in its own
// goroutine; the handler builds a message.Message (no copy of the body),
// the store appends it (and under SYNC_FLUSH waits for the group commit),
// and the reply carries the offset message id, queue id and queue offset.
// The store's dispatcher later builds the consume-queue entry and calls
// Arrived, which wakes the pulls parked on that queue.
package broker
