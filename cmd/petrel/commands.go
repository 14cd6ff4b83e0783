package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/petrel-mq/petrel/internal/broker"
	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/gcpace"
	"github.com/petrel-mq/petrel/internal/namesrv"
	"github.com/petrel-mq/petrel/internal/remoting"
)

// loadBroker reads the broker settings: defaults, then the file, then
// flags (--set key=value), then validation.
func loadBroker(path string, sets setFlags, log *slog.Logger) (*config.Broker, error) {
	cfg := config.DefaultBroker()
	if path != "" {
		c, warnings, err := config.LoadBroker(path)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			log.Warn("config: " + w.String())
		}
		cfg = c
	}
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		if err := cfg.Set(k, v); err != nil {
			return nil, fmt.Errorf("--set %s: %w", kv, err)
		}
	}
	return cfg, nil
}

func runServe(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("petrel serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory (storePathRootDir)")
	nsListen := fs.String("namesrv-listen", "127.0.0.1:9876", "name server listen address (0.0.0.0:9876 to expose it)")
	brListen := fs.String("broker-listen", "127.0.0.1:10911", "broker listen address")
	confPath := fs.String("c", "", "broker.conf (RocketMQ keys); flags override it")
	var sets setFlags
	fs.Var(&sets, "set", "override a broker.conf key: --set flushDiskType=SYNC_FLUSH (repeatable)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (off by default)")
	gcHeadroom := gcHeadroomFlag(fs)
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	startPprof(*pprofAddr, log)
	defer gcpace.Start(*gcHeadroom<<20, log).Close()
	cfg, err := loadBroker(*confPath, sets, log)
	if err != nil {
		return err
	}
	if !flagSet(fs, "data") && cfg.StorePathRootDir != "" {
		*data = cfg.StorePathRootDir
	}
	if cfg.StorePathRootDir, err = filepath.Abs(*data); err != nil {
		return err
	}
	if err := cfg.SetListenAddr(*brListen); err != nil {
		return fmt.Errorf("--broker-listen: %w", err)
	}
	nsLn, err := net.Listen("tcp", *nsListen)
	if err != nil {
		return fmt.Errorf("name server: listen on %s: %w", *nsListen, err)
	}
	ns, nsServer := startNamesrv(nsLn, log)
	cfg.NamesrvAddr = append([]string{dialable(nsLn.Addr())}, cfg.NamesrvAddr...)
	if err := cfg.Validate(); err != nil {
		stopNamesrv(ns, nsServer, log)
		return err
	}
	b, err := broker.New(broker.Options{Config: cfg, Logger: log})
	if err != nil {
		stopNamesrv(ns, nsServer, log)
		return err
	}
	b.Start()
	log.Info("petrel serve started", "data", cfg.StorePathRootDir, "namesrv", nsLn.Addr().String(),
		"broker", b.ListenAddr().String(), "brokerAddr", b.Addr().String(), "flushDiskType", string(cfg.FlushDiskType),
		"brokerRole", string(cfg.BrokerRole), "pid", os.Getpid())
	waitForSignal(log)
	ctx, cancel := shutdownContext()
	defer cancel()
	err = b.Shutdown(ctx)
	stopNamesrv(ns, nsServer, log)
	if err != nil {
		return err
	}
	log.Info("petrel stopped cleanly")
	return nil
}

func runBroker(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("petrel broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confPath := fs.String("c", "", "broker.conf (RocketMQ keys)")
	listen := fs.String("listen", "", "listen address, overriding bindAddress and listenPort")
	data := fs.String("data", "", "data directory, overriding storePathRootDir")
	nsAddr := fs.String("namesrv", "", "name servers, overriding namesrvAddr (host:port;host:port)")
	var sets setFlags
	fs.Var(&sets, "set", "override a broker.conf key (repeatable)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (off by default)")
	gcHeadroom := gcHeadroomFlag(fs)
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	startPprof(*pprofAddr, log)
	defer gcpace.Start(*gcHeadroom<<20, log).Close()
	cfg, err := loadBroker(*confPath, sets, log)
	if err != nil {
		return err
	}
	if *listen != "" {
		if err := cfg.SetListenAddr(*listen); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	if *data != "" {
		cfg.StorePathRootDir = *data
	}
	if *nsAddr != "" {
		if err := cfg.Set("namesrvAddr", *nsAddr); err != nil {
			return fmt.Errorf("--namesrv: %w", err)
		}
	}
	if cfg.StorePathRootDir == "" {
		home, _ := os.UserHomeDir()
		cfg.StorePathRootDir = filepath.Join(home, "store") // RocketMQ's default
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := broker.New(broker.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	b.Start()
	log.Info("petrel broker started", "data", cfg.StorePathRootDir, "listen", b.ListenAddr().String(),
		"brokerAddr", b.Addr().String(), "namesrvAddr", strings.Join(cfg.NamesrvAddr, ";"),
		"flushDiskType", string(cfg.FlushDiskType), "brokerRole", string(cfg.BrokerRole), "pid", os.Getpid())
	waitForSignal(log)
	ctx, cancel := shutdownContext()
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		return err
	}
	log.Info("petrel broker stopped cleanly")
	return nil
}

// gcHeadroomFlag registers --gc-headroom-mb: the broker's process paces
// the garbage collector with this headroom (package gcpace).
func gcHeadroomFlag(fs *flag.FlagSet) *int64 {
	return fs.Int64("gc-headroom-mb", gcpace.DefaultHeadroomMiB,
		"let the heap grow by at least this many MiB between garbage collections (0: Go's default pacing; GOGC in the environment wins)")
}

func runNamesrv(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("petrel namesrv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confPath := fs.String("c", "", "namesrv.conf")
	listen := fs.String("listen", "", "listen address (default 0.0.0.0:9876, RocketMQ's)")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg := config.DefaultNamesrv()
	if *confPath != "" {
		c, warnings, err := config.LoadNamesrv(*confPath)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			log.Warn("config: " + w.String())
		}
		cfg = c
	}
	if *listen != "" {
		if err := cfg.SetListenAddr(*listen); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	ns, server := startNamesrv(ln, log)
	log.Info("petrel namesrv started", "listen", ln.Addr().String(), "pid", os.Getpid())
	waitForSignal(log)
	stopNamesrv(ns, server, log)
	log.Info("petrel namesrv stopped cleanly")
	return nil
}

func startNamesrv(ln net.Listener, log *slog.Logger) (*namesrv.Namesrv, *remoting.Server) {
	ns := namesrv.New(namesrv.Options{Logger: log})
	ns.Start()
	server := &remoting.Server{Handler: ns, Logger: log, ConnState: ns.ConnState}
	go server.Serve(ln)
	return ns, server
}

func stopNamesrv(ns *namesrv.Namesrv, server *remoting.Server, log *slog.Logger) {
	ctx, cancel := shutdownContext()
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		log.Warn("name server shutdown", "err", err)
	}
	ns.Close()
}

// dialable turns a listen address into one a local client can dial.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}
