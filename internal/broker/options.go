package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/store"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Options configures a Broker.
type Options struct {
	// Config is the broker.conf settings (validated by the caller).
	Config *config.Broker
	// Listener, if set, is used instead of listening on Config's address
	// (tests pass one on 127.0.0.1:0).
	Listener net.Listener
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// FS defaults to the operating system.
	FS vfs.FS
	// Now defaults to time.Now.
	Now func() time.Time
}

// storeConfig derives the store's settings from broker.conf.
func storeConfig(c *config.Broker, host netip.AddrPort, fs vfs.FS, log *slog.Logger, now func() time.Time) store.Config {
	mode := store.AsyncFlush
	if c.FlushDiskType == config.SyncFlush {
		mode = store.SyncFlush
	}
	return store.Config{
		Dir:                         c.StorePathRootDir,
		CommitLogDir:                c.CommitLogDir(),
		CommitLogSegmentSize:        c.MappedFileSizeCommitLog,
		ConsumeQueueEntries:         int(c.MappedFileSizeConsumeQueue / 20),
		FlushDiskType:               mode,
		FlushInterval:               c.FlushIntervalCommitLog,
		SyncFlushTimeout:            c.SyncFlushTimeout,
		FileReservedTime:            c.FileReservedTime,
		DeleteWhen:                  c.DeleteWhen,
		DiskMaxUsedSpaceRatio:       float64(c.DiskMaxUsedSpaceRatio) / 100,
		DiskSpaceCleanForciblyRatio: float64(c.DiskSpaceCleanForciblyRatio) / 100,
		DiskSpaceWarningLevelRatio:  float64(c.DiskSpaceWarningLevelRatio) / 100,
		IndexHashSlots:              c.MaxHashSlotNum,
		IndexMaxEntries:             c.MaxIndexNum,
		MaxRecordSize:               c.MaxMessageSize + 64<<10,
		StoreHost:                   host,
		FS:                          fs,
		Now:                         now,
		Logger:                      log,
	}
}

// AdvertisedAddr is the address the broker registers and writes into every
// stored message (STOREHOST): brokerIP1 if set, else the listen host if it
// is a specific address, else the machine's first non-loopback IPv4
// address (127.0.0.1 if it has none).
func AdvertisedAddr(c *config.Broker, listenPort int) (netip.AddrPort, error) {
	port := uint16(listenPort)
	if c.BrokerIP1 != "" {
		a, err := netip.ParseAddr(c.BrokerIP1)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("brokerIP1 %q is not an IP address: %w", c.BrokerIP1, err)
		}
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	if a, err := netip.ParseAddr(c.BindAddress); err == nil && !a.IsUnspecified() {
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, ia := range addrs {
			if n, ok := ia.(*net.IPNet); ok {
				if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap().Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
					return netip.AddrPortFrom(a.Unmap(), port), nil
				}
			}
		}
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), nil
}

func listenPortOf(l net.Listener) (int, error) {
	_, p, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

var errNoStoreDir = errors.New("storePathRootDir is empty")

func metaDir(c *config.Broker) string { return filepath.Join(c.StorePathRootDir, "config") }
