package store

import (
	"errors"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

const abortFile = "abort"

// Store is the message store. Its methods are safe for concurrent use.
type Store struct {
	cfg   Config
	log   *commitLog
	gc    *groupCommit // SYNC_FLUSH only
	cqs   *consumeQueues
	index *keyIndex

	dispatchMu   sync.Mutex // guards disp and the consume-queue/index writes
	disp         dispatcher
	dispatched   atomic.Int64 // commit-log offset below which records are dispatched
	dispatchKick chan struct{}

	ckptMu  sync.Mutex // one checkpoint (or retention pass) at a time
	lastCkD atomic.Int64
	// lastCkWritten is the encoding of the last checkpoint this process
	// wrote (guarded by ckptMu): an unchanged one is not written again.
	lastCkWritten []byte

	diskFull  atomic.Bool // above diskSpaceWarningLevelRatio
	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// Open opens (creating if needed) the store in cfg.Dir and recovers it.
func Open(cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Dir, cfg.CommitLogDir} {
		if err := cfg.FS.MkdirAll(d); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", d, err)
		}
	}
	s := &Store{
		cfg:          cfg,
		dispatchKick: make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	s.log = newCommitLog(&s.cfg)
	s.cqs = newConsumeQueues(&s.cfg)
	s.index = newKeyIndex(&s.cfg)
	if err := s.recover(); err != nil {
		s.log.files.close()
		s.cqs.close()
		s.index.close()
		return nil, fmt.Errorf("store: recover %s: %w", cfg.Dir, err)
	}
	if cfg.FlushDiskType == SyncFlush {
		s.gc = newGroupCommit()
		s.startWarmer()
		s.wg.Add(2)
		go s.runFlusher(s.gc)
		go s.runFlushWatcher(s.gc)
	} else {
		s.wg.Add(1)
		go s.runAsyncFlusher()
	}
	s.wg.Add(3)
	go s.runDispatcher()
	go s.runCheckpointer()
	go s.runCleaner()
	return s, nil
}

// startWarmer prepares commit-log segments ahead of the log under
// SYNC_FLUSH, beginning with the one after the last (see warm.go). Open
// calls it before anything can append.
func (s *Store) startWarmer() {
	w := newSegmentWarmer(s.cfg.FS, s.cfg.CommitLogDir, s.cfg.CommitLogSegmentSize, s.cfg.Logger)
	w.appended = s.log.appended.Load
	s.log.files.warmer = w
	last := s.log.files.last()
	if last != nil {
		w.request(last.end())
	} else {
		w.request(s.log.writeOff)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.run(s.stop)
	}()
	if last == nil {
		// A new store: give its first segment a head start (about a
		// second for 1 GiB here), as RocketMQ waits for its first warmed
		// file; past the bound the first append takes it half zeroed.
		w.awaitFirst(s.log.writeOff, firstWarmWait)
	}
}

// firstWarmWait bounds how long Open waits for a new store's first
// segment to be warmed.
const firstWarmWait = 3 * time.Second

// createAbortFile marks the store open; Close removes the mark, so finding
// it at Open means the last run did not close cleanly.
func (s *Store) createAbortFile() (existed bool, err error) {
	p := path.Join(s.cfg.Dir, abortFile)
	if _, err := s.cfg.FS.Stat(p); err == nil {
		existed = true
	}
	f, err := s.cfg.FS.Create(p)
	if err != nil {
		return existed, fmt.Errorf("create %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return existed, err
	}
	return existed, s.cfg.FS.SyncDir(s.cfg.Dir)
}

// fail stops appends after a failed write or sync: the state of unsynced
// data is then unknown, and only a restart (recovery) can establish it.
func (s *Store) fail(err error) {
	s.log.mu.Lock()
	first := s.log.refuse == nil
	if first {
		s.log.refuse = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.log.stageDrained.Broadcast()
	s.log.mu.Unlock()
	if first {
		s.cfg.Logger.Error("store: refusing writes until restart", "err", err)
	}
}

// PutResult says where a message (or the first of a batch) was stored.
type PutResult struct {
	Status         PutStatus
	PhysOffset     int64 // commit-log offset of the first record
	QueueOffset    int64 // queue offset of the first message
	StoreTimestamp int64
	WroteBytes     int // total bytes of the records
}

// Put stores one message. m.StoreHost must be set; m may be reused after
// Put returns.
func (s *Store) Put(m *message.Message) (PutResult, error) {
	return s.put(unsafeSliceOf(m))
}

// PutBatch stores messages that share one topic and queue, contiguously,
// with consecutive queue offsets.
func (s *Store) PutBatch(msgs []message.Message) (PutResult, error) {
	if len(msgs) == 0 {
		return PutResult{}, fmt.Errorf("%w: empty batch", ErrMessageIllegal)
	}
	for i := range msgs {
		if msgs[i].Topic != msgs[0].Topic || msgs[i].QueueID != msgs[0].QueueID {
			return PutResult{}, fmt.Errorf("%w: a batch must share one topic and queue", ErrMessageIllegal)
		}
		if t := message.TransactionType(msgs[i].SysFlag); t != message.TransactionNotType {
			return PutResult{}, fmt.Errorf("%w: a batch cannot hold transactional messages", ErrMessageIllegal)
		}
	}
	return s.put(msgs)
}

func unsafeSliceOf(m *message.Message) []message.Message { return unsafe.Slice(m, 1) }

func (s *Store) put(msgs []message.Message) (PutResult, error) {
	total := 0
	for i := range msgs {
		m := &msgs[i]
		if err := message.ValidateTopic(m.Topic); err != nil {
			return PutResult{}, fmt.Errorf("%w: %w", ErrMessageIllegal, err)
		}
		if err := m.Validate(); err != nil {
			return PutResult{}, fmt.Errorf("%w: %w", ErrMessageIllegal, err)
		}
		if m.QueueID < 0 {
			return PutResult{}, fmt.Errorf("%w: queue id %d", ErrMessageIllegal, m.QueueID)
		}
		m.PrepareEncode()
		total += m.EncodedSize()
	}
	if total > s.cfg.MaxRecordSize {
		return PutResult{}, fmt.Errorf("%w: %d bytes to store, the limit is %d", ErrMessageIllegal, total, s.cfg.MaxRecordSize)
	}
	if s.diskFull.Load() {
		return PutResult{}, fmt.Errorf("%w: disk usage is above diskSpaceWarningLevelRatio %.0f%%", ErrDiskFull, s.cfg.DiskSpaceWarningLevelRatio*100)
	}
	l := s.log
	l.mu.Lock()
	if l.refuse != nil {
		err := l.refuse
		l.mu.Unlock()
		return PutResult{}, err
	}
	res, err := l.appendLocked(msgs)
	if err != nil {
		l.mu.Unlock()
		if vfs.IsNoSpace(err) {
			return PutResult{}, fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		if errors.Is(err, errWriteFailed) && !isCreateFailure(err) {
			s.fail(err)
		}
		return PutResult{}, err
	}
	var w *flushWaiter
	if s.gc != nil {
		w = waiterPool.Get().(*flushWaiter)
		w.end = res.end
		now := time.Now()
		w.deadline = now.Add(s.cfg.SyncFlushTimeout)
		s.gc.enqueue(w, now)
	}
	l.mu.Unlock()
	out := PutResult{PhysOffset: res.physOffset, QueueOffset: res.queueOffset, StoreTimestamp: res.storeTimestamp, WroteBytes: res.wroteBytes}
	if w == nil {
		kick(s.dispatchKick)
		return out, nil
	}
	kick(s.gc.flushKick)
	r := <-w.done
	waiterPool.Put(w)
	if r.err != nil {
		return PutResult{}, fmt.Errorf("%w: %w", ErrUnavailable, r.err)
	}
	out.Status = r.status
	return out, nil
}

// Sync makes everything appended so far durable. The broker calls it before
// persisting state that claims messages exist (delay progress), so under
// ASYNC_FLUSH that state never outlives the messages after a power loss.
func (s *Store) Sync() error {
	if err := s.log.flushTo(s.log.appended.Load()); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

// isCreateFailure tells a failed segment creation (nothing written, safe to
// retry) from a failed write into a segment.
func isCreateFailure(err error) bool {
	var ce *createError
	return errors.As(err, &ce)
}

// Close flushes everything, writes a clean checkpoint, removes the abort
// mark and releases the files. Appends after Close fail with ErrClosed.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.close() })
	return err
}

func (s *Store) close() error {
	s.log.mu.Lock()
	wasFailed := s.log.refuse != nil
	if s.log.refuse == nil {
		s.log.refuse = ErrClosed
	}
	s.log.stageDrained.Broadcast()
	end := s.log.writeOff
	s.log.mu.Unlock()

	var errs []error
	if err := s.log.flushTo(end); err != nil {
		errs = append(errs, err)
		wasFailed = true
	}
	if s.gc != nil {
		flushErr := errors.Join(errs...)
		s.gc.release(func(*flushWaiter) (waitResult, bool) { return waitResult{status: PutOK, err: flushErr}, true })
	}
	close(s.stop)
	s.wg.Wait()
	s.dispatchMu.Lock()
	if err := s.dispatchLocked(end); err != nil {
		errs = append(errs, err)
		wasFailed = true
	}
	s.dispatchMu.Unlock()
	if !wasFailed {
		if err := s.takeCheckpoint(true); err != nil {
			errs = append(errs, err)
		} else if err := s.cfg.FS.Remove(path.Join(s.cfg.Dir, abortFile)); err != nil {
			errs = append(errs, err)
		} else if err := s.cfg.FS.SyncDir(s.cfg.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	s.index.close()
	s.cqs.close()
	s.log.files.close()
	return errors.Join(errs...)
}

func (s *Store) runCheckpointer() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.takeCheckpoint(false); err != nil {
				s.cfg.Logger.Error("store: checkpoint failed", "err", err)
			}
		case <-s.stop:
			return
		}
	}
}
