package store

import (
	"fmt"
	"path"
	"slices"
	"time"
)

// maxDeletePerRun bounds the segments one retention pass deletes, so a
// large backlog of expired files is removed in steps (as RocketMQ does).
const maxDeletePerRun = 10

func (s *Store) runCleaner() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CleanInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := s.Clean(); err != nil {
				s.cfg.Logger.Error("store: retention failed", "err", err)
			}
		case <-s.stop:
			return
		}
	}
}

// CleanReport says what one retention pass did.
type CleanReport struct {
	UsedRatio       float64
	DeletedSegments int
	CommitLogMin    int64
}

// Clean runs one retention pass (the cleaner calls it every CleanInterval):
//   - above diskSpaceWarningLevelRatio, writes are refused until usage falls;
//   - at a deleteWhen hour, or above diskMaxUsedSpaceRatio, segments older
//     than fileReservedTime are deleted;
//   - above diskSpaceCleanForciblyRatio, the oldest segments are deleted
//     even if they have not expired.
//
// The segment being written is never deleted, nor one holding records the
// last checkpoint does not yet cover. Consume queues and the index then
// drop what points into deleted segments, and queue min offsets advance.
func (s *Store) Clean() (CleanReport, error) {
	var rep CleanReport
	usage, err := s.cfg.FS.DiskUsage(s.cfg.CommitLogDir)
	if err != nil {
		return rep, fmt.Errorf("disk usage of %s: %w", s.cfg.CommitLogDir, err)
	}
	rep.UsedRatio = usage.UsedRatio()
	full := rep.UsedRatio > s.cfg.DiskSpaceWarningLevelRatio
	if s.diskFull.Swap(full) != full {
		if full {
			s.cfg.Logger.Error("store: disk usage above diskSpaceWarningLevelRatio; refusing writes", "used", rep.UsedRatio, "limit", s.cfg.DiskSpaceWarningLevelRatio)
		} else {
			s.cfg.Logger.Info("store: disk usage back below diskSpaceWarningLevelRatio; accepting writes", "used", rep.UsedRatio)
		}
	}
	now := s.cfg.Now()
	forcibly := rep.UsedRatio > s.cfg.DiskSpaceCleanForciblyRatio
	expiredOnly := !forcibly
	if expiredOnly && rep.UsedRatio <= s.cfg.DiskMaxUsedSpaceRatio && !slices.Contains(s.cfg.DeleteWhen, now.Hour()) {
		rep.CommitLogMin = s.log.files.minOffset()
		return rep, nil
	}

	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	files := s.log.files.list()
	limit := s.lastCkD.Load() // records below are covered by the last checkpoint
	if floor := s.cfg.RetentionFloor; floor != nil {
		limit = min(limit, floor())
	}
	n := 0
	for n < len(files)-1 && n < maxDeletePerRun && files[n].end() <= limit {
		if expiredOnly {
			fi, err := s.cfg.FS.Stat(files[n].path)
			if err != nil {
				return rep, fmt.Errorf("stat %s: %w", files[n].path, err)
			}
			if now.Sub(fi.ModTime) < s.cfg.FileReservedTime {
				break
			}
		}
		n++
	}
	if n > 0 {
		gone := files[:n]
		if err := s.log.files.removeFirst(n); err != nil {
			return rep, err
		}
		s.cfg.Logger.Info("store: deleted commit-log segments", "count", n, "from", path.Base(gone[0].path),
			"to", path.Base(gone[n-1].path), "forcibly", forcibly, "used", rep.UsedRatio)
	}
	rep.DeletedSegments = n
	rep.CommitLogMin = s.log.files.minOffset()
	for _, q := range s.cqs.all() {
		if err := q.dropExpired(rep.CommitLogMin); err != nil {
			return rep, err
		}
	}
	return rep, s.index.dropExpired(rep.CommitLogMin)
}

// DeleteTopic destroys the consume queues of a topic, so a topic created
// again under the name starts at queue offset 0 (RocketMQ's behaviour).
// Its messages stay in the commit log until retention removes them, but
// no queue points at them any more.
func (s *Store) DeleteTopic(topic string) error {
	l := s.log
	l.mu.Lock()
	for k := range l.queueOffsets {
		if k.topic == topic {
			delete(l.queueOffsets, k)
		}
	}
	end := l.writeOff
	l.mu.Unlock()

	// Dispatch everything already written (records of this topic included),
	// then checkpoint past it without the topic's queues, so recovery never
	// re-dispatches those records into a new queue.
	if err := l.flushTo(end); err != nil {
		return err
	}
	s.ckptMu.Lock()
	s.dispatchMu.Lock()
	err := s.dispatchLocked(end)
	gone := s.cqs.remove(topic)
	s.dispatchMu.Unlock()
	s.ckptMu.Unlock()
	if err != nil {
		return err
	}
	if err := s.takeCheckpoint(false); err != nil {
		return err
	}
	for _, q := range gone {
		q.files.close()
	}
	dir := path.Join(s.cfg.Dir, "consumequeue", topic)
	if err := removeTree(s.cfg, dir); err != nil {
		return err
	}
	return s.cfg.FS.SyncDir(path.Join(s.cfg.Dir, "consumequeue"))
}

// removeTree removes a directory two levels deep (queue dirs of files).
func removeTree(cfg Config, dir string) error {
	names, err := cfg.FS.List(dir)
	if err != nil {
		return nil // already gone
	}
	for _, n := range names {
		sub := path.Join(dir, n)
		files, err := cfg.FS.List(sub)
		if err == nil {
			for _, f := range files {
				if err := cfg.FS.Remove(path.Join(sub, f)); err != nil {
					return fmt.Errorf("remove %s: %w", path.Join(sub, f), err)
				}
			}
		}
		if err := cfg.FS.Remove(sub); err != nil {
			return fmt.Errorf("remove %s: %w", sub, err)
		}
	}
	if err := cfg.FS.Remove(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
