// Package compat is petrel's compatibility suite: its tests build the
// petrel binary, run it as a real process on loopback ports, and drive it
// with the official RocketMQ Go client (github.com/apache/rocketmq-client-go/v2
// v2.1.2), so what they prove is what an unchanged RocketMQ application sees.
//
// It is a separate module so the broker's module never depends on the
// official client, and it imports none of petrel's packages: the binary is
// the only thing under test.
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
