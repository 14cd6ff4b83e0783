// Command nats-bench is the NATS JetStream peer of petrel-bench: the same
// workloads (bench/workloads) and the same load generator and report
// (petrel's internal/bench), driving a NATS server through the official
// Go client, github.com/nats-io/nats.go. It lives in its own module so
// petrel does not depend on NATS.
//
// Mapping of the workload to JetStream:
//
//   - the topic is a stream with file storage; its Q queues are the
//     subjects <topic>.0 ... <topic>.<Q-1>, which producers use round
//     robin (a stream has no partitions; subjects keep the per-message
//     work the same);
//   - sync is jetstream.Publish (waits for the PubAck), async is
//     PublishAsync with the workload's window as its max pending, oneway
//     is a core NATS publish with no ack, batch is BatchSize PublishAsync
//     calls followed by waiting for all their acks;
//   - consumers share one durable pull consumer (explicit acks, deliver
//     all) through Consume, each on its own connection;
//   - the flush mode is the server's configuration (bench/run.sh starts
//     the server with or without sync_interval: always); --flush is only
//     recorded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/petrel-mq/petrel/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "nats-bench:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nats-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "nats://127.0.0.1:4222", "NATS server URL")
	jsonOut := fs.Bool("json", false, "write the final report as JSON to stdout")
	reportEvery := fs.Duration("report-every", 5*time.Second, "progress interval (to stderr)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long consumers may take to catch up after the producers stop")
	serverNote := fs.String("server-note", "", "what the server's storage settings are, for the report")
	wf := bench.RegisterFlags(fs, "../workloads")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := wf.Workload()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t := &natsTarget{url: *url, window: w.AsyncWindow}
	defer t.cleanup()
	res, err := bench.Run(ctx, t, w, bench.Options{Logger: log, Progress: stderr, ReportEvery: *reportEvery, DrainTimeout: *drain})
	if err != nil {
		return fmt.Errorf("run %s: %w", w.Name, err)
	}
	res.FlushNote = *serverNote
	if *jsonOut {
		return res.WriteJSON(stdout)
	}
	return res.WriteTable(stdout)
}
