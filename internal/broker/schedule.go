package broker

import (
	"fmt"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Delay levels (RocketMQ's ScheduleMessageService). A message with DELAY=n
// is stored in SCHEDULE_TOPIC_XXXX queue n-1 with its real topic and queue
// in REAL_TOPIC/REAL_QID; each level's queue is in due-time order because
// all its messages wait the same time, so the scheduler only ever looks at
// each queue's head. A due message is stored again in its real topic and
// queue with its body, keys, tags and UNIQ_KEY (so its message id), and the
// level's progress advances.
//
// Progress is persisted in config/delayOffset.json at most once a second,
// after the delivered copies are synced: a crash may deliver the last
// second's messages twice (at least once), never lose one, never deliver
// one early. Unlike RocketMQ 4.9.8, the delivered copy does not keep DELAY,
// REAL_TOPIC and REAL_QID.

// delayLevelOf returns the message's delay level, clamped to the highest
// configured one, or 0.
func (b *Broker) delayLevelOf(props []byte) int {
	v, ok := message.LookupProperty(props, message.PropertyDelayTimeLevel)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(n, len(b.cfg.MessageDelayLevel))
}

// divertToSchedule rewrites m to wait in SCHEDULE_TOPIC_XXXX for level.
func divertToSchedule(m *message.Message, level int) {
	props := message.AppendPropertiesWithout(nil, m.Properties, message.PropertyDelayTimeLevel,
		message.PropertyRealTopic, message.PropertyRealQueueID)
	props = message.AppendProperty(props, message.PropertyDelayTimeLevel, strconv.Itoa(level))
	props = message.AppendProperty(props, message.PropertyRealTopic, m.Topic)
	props = message.AppendProperty(props, message.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Properties = props
	m.Topic = TopicSchedule
	m.QueueID = int32(level - 1)
}

// storeMessage stores m. A message with a delay level waits in the
// schedule topic first; one with a timer property (and no delay level,
// which wins, as in RocketMQ 5) waits in the timer topic. Prepared and
// rolled-back transaction records are never delayed.
func (b *Broker) storeMessage(m *message.Message) (store.PutResult, error) {
	t := message.TransactionType(m.SysFlag)
	if t == message.TransactionNotType || t == message.TransactionCommitType {
		if level := b.delayLevelOf(m.Properties); level > 0 {
			m.Properties = message.AppendPropertiesWithout(nil, m.Properties, timerInputProperties...)
			divertToSchedule(m, level)
		} else if due, ok, err := b.timerDue(m.Properties, b.now().UnixMilli()); err != nil {
			return store.PutResult{}, err
		} else if ok && due > b.now().UnixMilli() {
			divertToTimer(m, due)
		}
	}
	return b.store.Put(m)
}

// tagsCodeHook is the store's TagsCode hook: the tag code of a scheduled
// message (delay level or timer) is its due time.
func (b *Broker) tagsCodeHook(topic []byte, queueID int32, props []byte, storeTs int64) (int64, bool) {
	switch string(topic) {
	case TopicSchedule:
		if queueID < 0 || int(queueID) >= len(b.cfg.MessageDelayLevel) {
			return 0, false
		}
		return storeTs + b.cfg.MessageDelayLevel[queueID].Milliseconds(), true
	case TopicTimer:
		v, _ := message.LookupProperty(props, message.PropertyTimerOutMS)
		due, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return storeTs, true // deliver at once rather than never
		}
		return due, true
	}
	return 0, false
}

// pendingFloor is the commit-log offset of the oldest delayed message not
// yet delivered (maxInt64 if none).
func (s *scheduler) pendingFloor() int64 {
	s.mu.Lock()
	offsets := append([]int64(nil), s.offsets...)
	s.mu.Unlock()
	floor := maxInt64
	for i, off := range offsets {
		q := int32(i)
		if off >= s.b.store.MaxOffset(TopicSchedule, q) {
			continue
		}
		if phys, err := s.b.store.PhysOffsetAt(TopicSchedule, q, max(off, s.b.store.MinOffset(TopicSchedule, q))); err == nil {
			floor = min(floor, phys)
		}
	}
	return floor
}

// scheduler delivers delayed messages when they are due. One goroutine.
type scheduler struct {
	b    *Broker
	file jsonFile

	mu        sync.Mutex
	offsets   []int64 // per level (index level-1): next queue offset to deliver
	headDue   []int64 // due time (ms) of each level's head, 0 if unknown or empty
	saved     []int64
	lastSaved time.Time

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

type delayOffsetFile struct {
	OffsetTable map[string]int64 `json:"offsetTable"`
}

func newScheduler(b *Broker, fs vfs.FS, dir string) *scheduler {
	n := len(b.cfg.MessageDelayLevel)
	return &scheduler{b: b, file: jsonFile{fs: fs, path: path.Join(dir, "delayOffset.json")},
		offsets: make([]int64, n), headDue: make([]int64, n), saved: make([]int64, n),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *scheduler) load() error {
	var f delayOffsetFile
	if _, err := s.file.load(&f); err != nil {
		return err
	}
	for k, v := range f.OffsetTable {
		level, err := strconv.Atoi(k)
		if err != nil || level < 1 || level > len(s.offsets) {
			continue // a level that no longer exists
		}
		s.offsets[level-1] = v
	}
	copy(s.saved, s.offsets)
	return nil
}

// arrived is called for each message dispatched into the schedule topic:
// it matters only when that level's queue had been drained.
func (s *scheduler) arrived(queueID int32) {
	s.mu.Lock()
	empty := int(queueID) < len(s.headDue) && s.headDue[queueID] == 0
	s.mu.Unlock()
	if empty {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) start() { go s.run() }

// close stops the scheduler and persists its progress.
func (s *scheduler) close() error {
	close(s.stop)
	<-s.done
	return s.persist(true)
}

func (s *scheduler) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.deliverDue()
		if err := s.persist(false); err != nil {
			s.b.log.Error("persist delay progress", "err", err)
		}
		wait := time.Second // progress is persisted at least this often
		if next > 0 {
			wait = min(wait, time.Until(time.UnixMilli(next)))
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-timer.C:
		case <-s.kick:
		case <-s.stop:
			return
		}
	}
}

// deliverDue delivers every due message and returns the earliest due time
// still waiting (0 if none).
func (s *scheduler) deliverDue() int64 {
	var next int64
	for level := 1; level <= len(s.offsets); level++ {
		due := s.deliverLevel(level)
		if due > 0 && (next == 0 || due < next) {
			next = due
		}
	}
	return next
}

// deliverLevel delivers the due head of one level's queue; it returns the
// due time of the first message not yet due (0 if the queue is drained).
func (s *scheduler) deliverLevel(level int) int64 {
	q := int32(level - 1)
	delay := s.b.cfg.MessageDelayLevel[q].Milliseconds()
	s.mu.Lock()
	off, head := s.offsets[q], s.headDue[q]
	s.mu.Unlock()
	now := s.b.now().UnixMilli()
	if head > now {
		return head
	}
	st := s.b.store
	if min := st.MinOffset(TopicSchedule, q); off < min {
		off = min
	}
	for off < st.MaxOffset(TopicSchedule, q) {
		res := st.GetMessages(TopicSchedule, q, off, 32, 1<<20, nil, nil)
		if res.Status != store.Found {
			if res.NextBeginOffset > off && res.Status != store.OffsetTooSmall {
				off = res.NextBeginOffset
				s.setProgress(q, off, 0)
				continue
			}
			break
		}
		for b := res.Buffer; len(b) > 0; {
			r := message.Record(b[:message.Record(b).TotalSize()])
			b = b[len(r):]
			due := r.StoreTimestamp() + delay
			if due > now+delay { // the clock went back: deliver now rather than wait longer than the delay
				due = now
			}
			if due > now {
				s.setProgress(q, off, due)
				return due
			}
			if err := s.deliver(r); err != nil {
				s.b.log.Error("deliver delayed message; retrying in 1 s", "level", level, "offset", r.QueueOffset(), "err", err)
				s.setProgress(q, off, now+1000)
				return now + 1000
			}
			off = r.QueueOffset() + 1
			s.setProgress(q, off, 0)
		}
	}
	s.setProgress(q, off, 0)
	return 0
}

func (s *scheduler) setProgress(q int32, off, headDue int64) {
	s.mu.Lock()
	s.offsets[q], s.headDue[q] = off, headDue
	s.mu.Unlock()
}

// deliver stores a due message in its real topic and queue.
func (s *scheduler) deliver(r message.Record) error {
	props := r.Properties()
	topic, ok := message.LookupProperty(props, message.PropertyRealTopic)
	qv, ok2 := message.LookupProperty(props, message.PropertyRealQueueID)
	qid, err := strconv.Atoi(string(qv))
	if !ok || !ok2 || err != nil {
		s.b.log.Error("delayed message without a valid REAL_TOPIC/REAL_QID; dropped", "offset", r.PhysicalOffset())
		return nil
	}
	m := message.Message{
		Topic:          string(topic),
		QueueID:        int32(qid),
		Flag:           r.Flag(),
		SysFlag:        r.SysFlag(),
		BornTimestamp:  r.BornTimestamp(),
		BornHost:       r.BornHost(),
		StoreHost:      s.b.storeHost,
		ReconsumeTimes: r.ReconsumeTimes(),
		Body:           r.Body(),
		Properties: message.AppendPropertiesWithout(nil, props, message.PropertyDelayTimeLevel,
			message.PropertyRealTopic, message.PropertyRealQueueID),
	}
	if _, err := s.b.store.Put(&m); err != nil {
		return fmt.Errorf("store in %s/%d: %w", m.Topic, m.QueueID, err)
	}
	return nil
}

// persist writes the progress if it changed (at most once a second unless
// forced), after syncing the store so the delivered copies it vouches for
// survive a power loss.
func (s *scheduler) persist(force bool) error {
	s.mu.Lock()
	changed := false
	for i := range s.offsets {
		if s.offsets[i] != s.saved[i] {
			changed = true
		}
	}
	if !changed || (!force && time.Since(s.lastSaved) < time.Second) {
		s.mu.Unlock()
		return nil
	}
	snap := append([]int64(nil), s.offsets...)
	s.mu.Unlock()
	if err := s.b.store.Sync(); err != nil {
		return err
	}
	f := delayOffsetFile{OffsetTable: make(map[string]int64, len(snap))}
	for i, v := range snap {
		f.OffsetTable[strconv.Itoa(i+1)] = v
	}
	if err := s.file.save(f); err != nil {
		return err
	}
	s.mu.Lock()
	copy(s.saved, snap)
	s.lastSaved = time.Now()
	s.mu.Unlock()
	return nil
}
