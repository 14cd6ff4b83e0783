package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/petrel-mq/petrel/internal/broker"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/namesrv"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// embedded is an in-process `petrel serve`: a name server and one broker
// on loopback ports chosen by the kernel, with its data in a directory it
// removes on Close unless the caller chose the directory.
type embedded struct {
	NamesrvAddr string

	log       *slog.Logger
	ns        *namesrv.Namesrv
	nsServer  *remoting.Server
	nsServed  chan error
	broker    *broker.Broker
	dir       string
	removeDir bool
}

// embeddedOptions configures startEmbedded.
type embeddedOptions struct {
	// Dir is the data directory; empty means a fresh temporary directory
	// (on the default TMPDIR's disk, so SYNC_FLUSH measures a real fsync).
	Dir string
	// FlushDiskType is ASYNC_FLUSH or SYNC_FLUSH.
	FlushDiskType string
	// CommitLogFileSize is the commit-log segment size; zero keeps
	// petrel's production default (1 GiB).
	CommitLogFileSize int64
	Logger            *slog.Logger
}

// startEmbedded starts the name server and the broker; the broker has
// registered with the name server when it returns.
func startEmbedded(opts embeddedOptions) (_ *embedded, err error) {
	e := &embedded{log: opts.Logger, dir: opts.Dir, nsServed: make(chan error, 1)}
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "petrel-bench-*"); err != nil {
			return nil, fmt.Errorf("embedded petrel: data directory: %w", err)
		}
		e.removeDir = true
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	nsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, fmt.Errorf("embedded petrel: name server listen: %w", err)
	}
	e.NamesrvAddr = nsLn.Addr().String()
	e.ns = namesrv.New(namesrv.Options{Logger: e.log})
	e.ns.Start()
	e.nsServer = &remoting.Server{Handler: e.ns, Logger: e.log, ConnState: e.ns.ConnState}
	go func() { e.nsServed <- e.nsServer.Serve(nsLn) }()

	cfg := config.DefaultBroker()
	cfg.BrokerName = "bench"
	cfg.StorePathRootDir = e.dir
	cfg.BindAddress = "127.0.0.1"
	cfg.NamesrvAddr = []string{e.NamesrvAddr}
	if opts.CommitLogFileSize > 0 {
		cfg.MappedFileSizeCommitLog = opts.CommitLogFileSize
	}
	if err := cfg.Set("flushDiskType", opts.FlushDiskType); err != nil {
		return e, fmt.Errorf("embedded petrel: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return e, fmt.Errorf("embedded petrel: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, fmt.Errorf("embedded petrel: broker listen: %w", err)
	}
	b, err := broker.New(broker.Options{Config: cfg, Listener: ln, Logger: e.log})
	if err != nil {
		ln.Close()
		return e, fmt.Errorf("embedded petrel: broker: %w", err)
	}
	b.Start() // registers with the name server before returning
	e.broker = b
	e.log.Info("embedded petrel started", "namesrv", e.NamesrvAddr, "broker", ln.Addr().String(),
		"data", e.dir, "flushDiskType", opts.FlushDiskType)
	return e, nil
}

// Close stops the broker (flushing its store), then the name server, and
// removes a temporary data directory.
func (e *embedded) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	if e.broker != nil {
		if err := e.broker.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embedded petrel: broker shutdown: %w", err))
		}
	}
	if e.nsServer != nil {
		if err := e.nsServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embedded petrel: name server shutdown: %w", err))
		}
		<-e.nsServed
		e.ns.Close()
	}
	if e.removeDir {
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, fmt.Errorf("embedded petrel: remove %s: %w", e.dir, err))
		}
	}
	return errors.Join(errs...)
}
