// Package client is petrel's Go client: producers, push and pull consumers
// and an admin client speaking RocketMQ's remoting protocol, so they work
// with petrel and with Apache RocketMQ brokers.
//
// A Producer sends synchronously (Send; several messages are one batch),
// asynchronously with many requests in flight on one connection
// (SendAsync, which under load gathers messages into batch requests while
// earlier ones are in flight; see ProducerConfig.DisableAutoBatch),
// oneway (SendOneway), or in a transaction
// (SendInTransaction). Every call takes a context; Close stops everything
// the producer started and waits for it.
//
// # Sharing
//
// Producers and consumers of one process with the same client id
// (ip@InstanceName) and name servers share a client instance: one route
// cache refreshed every 30 s, one connection per broker, one heartbeat
// every 30 s naming all their groups, and the handlers of requests brokers
// send (transaction checks). The instance lives while any of them is open.
//
// # Reliability
//
// A send is retried like RocketMQ's clients retry it (RetryTimes, default
// 2; on another broker when the topic has one) after a connection failure
// or a code saying nothing was stored (SYSTEM_ERROR, SYSTEM_BUSY,
// SERVICE_NOT_AVAILABLE, NO_PERMISSION, TOPIC_NOT_EXIST). The status of a
// stored message is returned as it is: SendOK, or a status saying the
// broker stored it but could not flush or replicate it in time. Errors are
// *SendError values made of *BrokerError attempts, which name the broker
// and the response code and remark; errors.Is matches ErrSystemBusy,
// ErrMessageIllegal, context.DeadlineExceeded and the like.
//
// Brokers that fail are avoided for 30 s, and slow ones for a time that
// grows with their latency, by the default RoundRobinSelector.
//
// # Consumers
//
// A PushConsumer pulls the queues allocated to it (long polling, one
// goroutine per queue) and calls its listener: concurrently, or in queue
// order holding the queue's broker lock. A message is committed only once
// it and every message before it in its queue are done; failed messages
// go back to the broker for a delayed retry (or, when that fails, to the
// group's retry topic as a new message) and, after MaxReconsumeTimes, to
// the group's dead-letter queue. Queues are allocated like the Java
// client allocates them, so mixed groups agree. An orderly queue is
// consumed only under a lock renewed within LockMaxLiveTime. A
// PullConsumer reads assigned queues, or the queues its group allocates
// it (Subscribe), at the pace of Poll and commits on request. Consumers
// answer brokers' GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY.
// Admin manages topics, groups and offsets, looks messages up, and asks
// consumers for their running state.
package client
