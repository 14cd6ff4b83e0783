package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// FlushDiskType is RocketMQ's flushDiskType.
type FlushDiskType int

const (
	// AsyncFlush acknowledges a record once it is in the page cache.
	AsyncFlush FlushDiskType = iota
	// SyncFlush acknowledges a record once it is synced to disk.
	SyncFlush
)

func (t FlushDiskType) String() string {
	if t == SyncFlush {
		return "SYNC_FLUSH"
	}
	return "ASYNC_FLUSH"
}

// Config configures a Store. Zero fields take the defaults noted.
type Config struct {
	// Dir is the root directory (storePathRootDir). Required.
	Dir string
	// CommitLogDir overrides <Dir>/commitlog (storePathCommitLog).
	CommitLogDir string
	// CommitLogSegmentSize is the size of a commit-log file
	// (mapedFileSizeCommitLog; default 1 GiB).
	CommitLogSegmentSize int64
	// ConsumeQueueEntries is the number of entries per consume-queue file
	// (mappedFileSizeConsumeQueue / 20; default 300000).
	ConsumeQueueEntries int
	// FlushDiskType is ASYNC_FLUSH (default) or SYNC_FLUSH.
	FlushDiskType FlushDiskType
	// FlushInterval is how often ASYNC_FLUSH syncs (flushIntervalCommitLog; default 500 ms).
	FlushInterval time.Duration
	// SyncFlushTimeout bounds a SYNC_FLUSH wait (syncFlushTimeout; default 5 s).
	SyncFlushTimeout time.Duration
	// CheckpointInterval is how often consume queues and the index are
	// synced and the checkpoint written (default 1 s).
	CheckpointInterval time.Duration
	// FileReservedTime is how long commit-log segments are kept
	// (fileReservedTime; default 72 h).
	FileReservedTime time.Duration
	// DeleteWhen lists the hours (0-23) at which expired segments are
	// deleted (deleteWhen; default 4).
	DeleteWhen []int
	// DiskMaxUsedSpaceRatio: above this used fraction, expired segments are
	// deleted at any hour (diskMaxUsedSpaceRatio; default 0.75).
	DiskMaxUsedSpaceRatio float64
	// DiskSpaceCleanForciblyRatio: above it the oldest segments are deleted
	// even if not expired (diskSpaceCleanForciblyRatio; default 0.85).
	DiskSpaceCleanForciblyRatio float64
	// DiskSpaceWarningLevelRatio: above it writes are refused
	// (diskSpaceWarningLevelRatio; default 0.90).
	DiskSpaceWarningLevelRatio float64
	// CleanInterval is how often retention runs (default 10 s).
	CleanInterval time.Duration
	// IndexHashSlots and IndexMaxEntries size an index file (maxHashSlotNum,
	// maxIndexNum; defaults 5,000,000 and 20,000,000).
	IndexHashSlots  int
	IndexMaxEntries int
	// MaxRecordSize bounds one stored record (default 4 MiB + 64 KiB; never
	// more than a segment minus a filler).
	MaxRecordSize int
	// StoreHost is the broker address written into every record. Records
	// passed to Put carry their own StoreHost; this one is used for ids.
	StoreHost netip.AddrPort
	// FS is the file system (default vfs.Default).
	FS vfs.FS
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives recovery reports and errors (default slog.Default()).
	Logger *slog.Logger
	// Arrival is told about every dispatched message (may be nil).
	Arrival ArrivalListener
	// TagsCode, if set, may replace a record's consume-queue tag code: the
	// broker stores a delayed message's due time there, so a scheduler can
	// read due times from the queue alone (as RocketMQ does for
	// SCHEDULE_TOPIC_XXXX). ok=false keeps the TAGS hash.
	TagsCode func(topic []byte, queueID int32, props []byte, storeTimestamp int64) (code int64, ok bool)
	// RetentionFloor, if set, returns a commit-log offset retention must
	// keep: no segment ending above it is deleted, even when the disk is
	// nearly full. The broker returns the oldest message it still has to
	// deliver (a delayed message, a timer, an unresolved half message), so
	// retention can never lose one; a full disk refuses writes instead.
	RetentionFloor func() int64

	// tailCacheSize overrides the tail cache's size (tests).
	tailCacheSize int
}

// ArrivalListener is told about each message the dispatcher adds to a
// consume queue, so long polling can wake without scanning. It is called
// from the dispatcher goroutine and must not block.
type ArrivalListener interface {
	Arrived(topic string, queueID int32, queueOffset, tagsCode, storeTimestamp int64)
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("store: Config.Dir is empty")
	}
	if c.CommitLogDir == "" {
		c.CommitLogDir = c.Dir + "/commitlog"
	}
	if c.CommitLogSegmentSize == 0 {
		c.CommitLogSegmentSize = 1 << 30
	}
	if c.ConsumeQueueEntries == 0 {
		c.ConsumeQueueEntries = 300000
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.SyncFlushTimeout == 0 {
		c.SyncFlushTimeout = 5 * time.Second
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.FileReservedTime == 0 {
		c.FileReservedTime = 72 * time.Hour
	}
	if c.DeleteWhen == nil {
		c.DeleteWhen = []int{4}
	}
	if c.DiskMaxUsedSpaceRatio == 0 {
		c.DiskMaxUsedSpaceRatio = 0.75
	}
	if c.DiskSpaceCleanForciblyRatio == 0 {
		c.DiskSpaceCleanForciblyRatio = 0.85
	}
	if c.DiskSpaceWarningLevelRatio == 0 {
		c.DiskSpaceWarningLevelRatio = 0.90
	}
	if c.CleanInterval == 0 {
		c.CleanInterval = 10 * time.Second
	}
	if c.IndexHashSlots == 0 {
		c.IndexHashSlots = 5000000
	}
	if c.IndexMaxEntries == 0 {
		c.IndexMaxEntries = 20000000
	}
	if c.MaxRecordSize == 0 {
		c.MaxRecordSize = 4<<20 + 64<<10
	}
	if limit := c.CommitLogSegmentSize - 8; int64(c.MaxRecordSize) > limit {
		c.MaxRecordSize = int(limit)
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.tailCacheSize == 0 {
		c.tailCacheSize = defaultTailCacheSize
	}
	if c.CommitLogSegmentSize < 4096 {
		return fmt.Errorf("store: commit-log segment size %d is below 4096", c.CommitLogSegmentSize)
	}
	if c.ConsumeQueueEntries < 16 {
		return fmt.Errorf("store: %d consume-queue entries per file is below 16", c.ConsumeQueueEntries)
	}
	if c.IndexHashSlots < 1 || c.IndexMaxEntries < 2 {
		return fmt.Errorf("store: index of %d slots and %d entries is too small", c.IndexHashSlots, c.IndexMaxEntries)
	}
	return nil
}
