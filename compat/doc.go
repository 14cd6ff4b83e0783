// Package compat is petrel's compatibility suite: its tests build the
// petrel binary, run it as a real process on loopback ports, and drive it
// with the official RocketMQ Go client (github.com/apache/rocketmq-client-go/v2
// v2.1.2), so what they prove is what an unchanged RocketMQ application sees.
//
// It is a separate module so the broker's module never depends on the
// official client. The binary is what is under test: the only petrel
// package the suite imports is the public client package
// (github.com/petrel-mq/petrel/client, through a replace of the parent
// module), for the test in which petrel's client and the official client
// are members of one consumer group and must split its queues. Requiring
// the parent module lifts a few of the official client's indirect
// dependencies (google/uuid, go.uber.org/atomic, golang.org/x/sys) to the
// versions the parent module uses.
//
// Run it from this directory:
//
//	go test -count=1 ./...                  # the compatibility tests
//	go test -run '^$' -bench . ./...        # throughput and latency benchmarks
//
// TestMain builds ../cmd/petrel once; set PETREL_BIN to test a binary built
// elsewhere instead. Set PETREL_LOG=1 to print every petrel process's
// stderr even when a test passes, and PETREL_LOG_LEVEL=debug to make petrel
// log at that level.
package compat
