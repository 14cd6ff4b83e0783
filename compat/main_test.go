package compat

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"go.uber.org/goleak"
)

// leakWait bounds how long TestMain waits for the official client's own
// goroutines to end after the last Shutdown: some of its timers sleep 10 s
// before they notice the shutdown.
const leakWait = 20 * time.Second

// clientLeaks are goroutines of the official client that outlive every
// Shutdown by design, so they are not the suite's leaks: the push
// consumer's expired-message cleaner sleeps its 15-minute consume timeout
// before it looks for shutdown, each consumer's statistics printers sleep
// until the next minute, hour and month before they do, and the client's
// package-level cache runs a janitor for the life of the process. A
// request in flight when its client shut down (a long poll, typically) is
// not failed by the shutdown and waits for its own timeout (30 s for a
// pull); the client's tickers, which an unshut client would leave behind,
// are still caught.
var clientLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/internal/remote.(*ResponseFuture).waitResponse"),
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/consumer.(*pushConsumer).Start.func1.2"),
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/consumer.(*statsItemSet).init.func4"),
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/consumer.(*statsItemSet).init.func5"),
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/consumer.(*statsItemSet).init.func6"),
	goleak.IgnoreTopFunction("github.com/patrickmn/go-cache.(*janitor).Run"),
	// The transaction producer's check-back loop ranges over a channel its
	// Shutdown never closes.
	goleak.IgnoreAnyFunction("github.com/apache/rocketmq-client-go/v2/producer.(*transactionProducer).checkTransactionState"),
}

func TestMain(m *testing.M) {
	rlog.SetLogger(clientLog)
	dir, err := os.MkdirTemp("", "petrel-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bin := os.Getenv("PETREL_BIN"); bin != "" {
		petrelBinary = bin // a binary built elsewhere, e.g. by CI
	} else {
		petrelBinary, buildErr = buildPetrel(dir)
	}
	if buildErr != nil {
		fmt.Fprintln(os.Stderr, "compat: every test will fail:", buildErr)
	}

	code := m.Run()

	if dirs := killLeftovers(); len(dirs) > 0 {
		fmt.Fprintf(os.Stderr, "compat: petrel processes left running (killed now), data dirs %v\n", dirs)
		code = 1
	}
	if code == 0 {
		if err := waitForGoroutines(leakWait); err != nil {
			fmt.Fprintln(os.Stderr, "compat: goroutines outlived every test:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitForGoroutines waits until only the test framework's and the known
// client goroutines are left.
func waitForGoroutines(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := goleak.Find(clientLeaks...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
