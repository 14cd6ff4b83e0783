// Command petrel is a RocketMQ-compatible message broker in one binary.
//
//	petrel serve   [--data DIR] [--namesrv-listen HOST:PORT] [--broker-listen HOST:PORT] [-c broker.conf] [--set key=value]...
//	petrel namesrv [--listen HOST:PORT] [-c namesrv.conf]
//	petrel broker  -c broker.conf [--set key=value]...
//	petrel version
//
// serve runs a name server and a broker in one process: the embedded
// default, on loopback unless told otherwise. Settings use RocketMQ's
// broker.conf keys; flags override the file.
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
	"strings"
	"syscall"
	"time"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// shutdownTimeout bounds a graceful stop.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `petrel: a RocketMQ-compatible message broker

usage:
  petrel serve   [flags]   name server and broker in one process (data in ./data)
  petrel namesrv [flags]   a name server
  petrel broker  [flags]   a broker (-c broker.conf)
  petrel version

Run "petrel <command> -h" for a command's flags.
`)
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(args[1:], stderr)
	case "namesrv":
		err = runNamesrv(args[1:], stderr)
	case "broker":
		err = runBroker(args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(os.Stdout, "petrel", version)
		return 0
	case "help", "-h", "--help":
		usage(os.Stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "petrel: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "petrel:", err)
		return 1
	}
	return 0
}

// logFlags are shared by every command.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", l.level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not text or json", l.format)
}

// setFlags collects repeated --set key=value overrides.
type setFlags []string

func (s *setFlags) String() string { return strings.Join(*s, ",") }

func (s *setFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not key=value", v)
	}
	*s = append(*s, v)
	return nil
}

// waitForSignal blocks until SIGINT or SIGTERM.
func waitForSignal(log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	s := <-ch
	signal.Stop(ch)
	log.Info("shutting down", "signal", s.String())
}

func shutdownContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), shutdownTimeout)
}
