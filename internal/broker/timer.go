package broker

import (
	"container/heap"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/config"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/store"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Exact-time delivery (RocketMQ 5's timer messages). A message with
// TIMER_DELIVER_MS (absolute), TIMER_DELAY_SEC or TIMER_DELAY_MS (relative)
// waits in rmq_sys_wheel_timer queue 0 with TIMER_OUT_MS (its due time),
// REAL_TOPIC and REAL_QID; that queue's tag code is the due time (a store
// hook). One goroutine keeps the pending entries in a min-heap by due time
// (O(log n) per timer: a million pending timers cost ~16 MB and no
// goroutine or scan each) and stores each due message again in its real
// topic and queue, with the timer properties removed.
//
// Unlike RocketMQ 5, which rounds due times down to timerPrecisionMs and
// so may deliver up to that much early, petrel delivers at the exact due
// time or after, never before.
//
// Delivery progress (a watermark below which every entry is done, and a
// bitmap of done entries above it) is persisted at most once a second,
// after the delivered copies are synced: a crash may deliver the last
// second's timers twice, never lose or advance one. A timer due further
// out than the roll window is stored again in the timer topic when the
// window passes, so no pending timer lives in a segment old enough for
// retention to delete.

// TopicTimer holds pending timer messages.
const TopicTimer = "rmq_sys_wheel_timer"

// Timer properties the broker adds.
const (
	PropertyTimerRollTimes = "TIMER_ROLL_TIMES"
)

var (
	errTimerDisabled = errors.New("accurate timer message is not enabled (timerWheelEnable=false)")
	errTimerIllegal  = errors.New("timer message illegal")
)

var timerInputProperties = []string{message.PropertyTimerDeliverMS, message.PropertyTimerDelaySec, message.PropertyTimerDelayMS}

// timerDue returns the due time (ms) a message asks for, and whether it
// asks at all.
func (b *Broker) timerDue(props []byte, now int64) (int64, bool, error) {
	for i, name := range timerInputProperties {
		v, ok := message.LookupProperty(props, name)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return 0, true, fmt.Errorf("%w: %s=%q is not a non-negative integer", errTimerIllegal, name, v)
		}
		if !b.cfg.TimerWheelEnable {
			return 0, true, errTimerDisabled
		}
		var due int64
		switch i {
		case 0:
			due = n
		case 1:
			if n > b.cfg.TimerMaxDelay.Milliseconds()/1000+1 {
				return 0, true, fmt.Errorf("%w: %s=%d is over timerMaxDelaySec %d", errTimerIllegal, name, n, int64(b.cfg.TimerMaxDelay/time.Second))
			}
			due = now + n*1000
		case 2:
			due = now + n
		}
		if due-now > b.cfg.TimerMaxDelay.Milliseconds() {
			return 0, true, fmt.Errorf("%w: due in %d ms, over timerMaxDelaySec %d", errTimerIllegal, due-now, int64(b.cfg.TimerMaxDelay/time.Second))
		}
		return due, true, nil
	}
	return 0, false, nil
}

// divertToTimer rewrites m to wait in the timer topic until due.
func divertToTimer(m *message.Message, due int64) {
	props := message.AppendPropertiesWithout(nil, m.Properties, message.PropertyTimerOutMS,
		message.PropertyRealTopic, message.PropertyRealQueueID)
	props = message.AppendProperty(props, message.PropertyTimerOutMS, strconv.FormatInt(due, 10))
	props = message.AppendProperty(props, message.PropertyRealTopic, m.Topic)
	props = message.AppendProperty(props, message.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Properties = props
	m.Topic = TopicTimer
	m.QueueID = 0
}

// timerEntry is a pending timer: its due time and timer-queue offset.
type timerEntry struct{ due, offset int64 }

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].offset < h[j].offset
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// timerService delivers timer messages. One goroutine.
type timerService struct {
	b          *Broker
	file       jsonFile
	rollWindow time.Duration

	mu        sync.Mutex
	heap      timerHeap
	scanned   int64   // entries below are in the heap or done
	done      doneSet // delivered (or rolled) entries
	dirty     bool
	lastSaved time.Time

	kick chan struct{}
	stop chan struct{}
	exit chan struct{}
}

type timerProgressFile struct {
	Watermark int64  `json:"watermark"`
	Done      string `json:"done"` // base64 bitmap of entries done above the watermark
}

func newTimerService(b *Broker, fs vfs.FS, dir string) *timerService {
	roll := b.cfg.FileReservedTime / 2
	if roll <= 0 || roll > 24*time.Hour {
		roll = 24 * time.Hour
	}
	return &timerService{b: b, file: jsonFile{fs: fs, path: path.Join(dir, "timerProgress.json")}, rollWindow: roll,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), exit: make(chan struct{})}
}

func (t *timerService) load() error {
	var f timerProgressFile
	if _, err := t.file.load(&f); err != nil {
		return err
	}
	d, err := decodeDoneSet(f.Watermark, f.Done)
	if err != nil {
		return fmt.Errorf("%s: %w", t.file.path, err)
	}
	t.done, t.scanned = d, d.watermark
	return nil
}

func (t *timerService) arrived() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *timerService) start() { go t.run() }

func (t *timerService) close() error {
	close(t.stop)
	<-t.exit
	return t.persist(true)
}

func (t *timerService) run() {
	defer close(t.exit)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := t.scanNew(); err != nil {
			t.b.log.Error("timer: read the timer queue", "err", err)
		}
		next := t.deliverDue()
		if err := t.persist(false); err != nil {
			t.b.log.Error("timer: persist progress", "err", err)
		}
		wait := time.Second
		if next > 0 {
			wait = min(wait, time.Until(time.UnixMilli(next)))
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-timer.C:
		case <-t.kick:
		case <-t.stop:
			return
		}
	}
}

// scanNew adds the timer queue's new entries to the heap.
func (t *timerService) scanNew() error {
	st := t.b.store
	t.mu.Lock()
	from := max(t.scanned, st.MinOffset(TopicTimer, 0))
	t.mu.Unlock()
	var buf []store.QueueEntry
	for from < st.MaxOffset(TopicTimer, 0) {
		entries, err := st.QueueEntries(TopicTimer, 0, from, 1024, buf[:0])
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			break
		}
		now := t.b.now()
		rollAt := now.Add(t.rollWindow).UnixMilli()
		t.mu.Lock()
		for _, e := range entries {
			if !t.done.has(e.QueueOffset) {
				heap.Push(&t.heap, timerEntry{due: min(e.TagsCode, rollAt), offset: e.QueueOffset})
			}
			from = e.QueueOffset + 1
		}
		t.scanned = from
		t.mu.Unlock()
		buf = entries
	}
	return nil
}

// deliverDue handles every entry due now and returns the next due time
// (0 if none). Under SYNC_FLUSH each store waits for a sync, so a round's
// due entries are stored concurrently and share group commits; under
// ASYNC_FLUSH a store is a memory copy and one goroutine is fastest.
func (t *timerService) deliverDue() int64 {
	width := 1
	if t.b.cfg.FlushDiskType == config.SyncFlush {
		width = 64
	}
	batch := make([]timerEntry, 0, width)
	errs := make([]error, width)
	for {
		now := t.b.now().UnixMilli()
		batch = batch[:0]
		next := int64(0)
		t.mu.Lock()
		for len(t.heap) > 0 && len(batch) < width {
			if e := t.heap[0]; e.due > now {
				next = e.due
				break
			}
			batch = append(batch, heap.Pop(&t.heap).(timerEntry))
		}
		// Popping only shortens the slice: give back the memory of a
		// burst of timers once most of it is delivered.
		if c := cap(t.heap); c > 4096 && len(t.heap) < c/4 {
			t.heap = slices.Clone(t.heap)
		}
		t.mu.Unlock()
		if len(batch) == 0 {
			return next
		}
		if len(batch) == 1 {
			errs[0] = t.fire(batch[0].offset, now)
		} else {
			var wg sync.WaitGroup
			for i, e := range batch {
				wg.Go(func() { errs[i] = t.fire(e.offset, now) })
			}
			wg.Wait()
		}
		failed := false
		t.mu.Lock()
		for i, e := range batch {
			if errs[i] != nil {
				t.b.log.Error("timer: deliver; retrying in 1 s", "offset", e.offset, "err", errs[i])
				heap.Push(&t.heap, timerEntry{due: now + 1000, offset: e.offset})
				failed = true
				continue
			}
			t.done.add(e.offset)
			t.dirty = true
		}
		t.mu.Unlock()
		if failed {
			return now + 1000
		}
	}
}

// fire delivers the timer at a queue offset, or rolls it forward if it is
// not due yet (its roll window passed).
func (t *timerService) fire(offset, now int64) error {
	res := t.b.store.GetMessages(TopicTimer, 0, offset, 1, 1<<30, nil, nil)
	if res.Status != store.Found {
		t.b.log.Error("timer: pending timer message unreadable; skipped", "offset", offset, "status", res.Status.String())
		return nil
	}
	r := message.Record(res.Buffer)
	props := r.Properties()
	m := message.Message{
		Flag: r.Flag(), SysFlag: r.SysFlag(), BornTimestamp: r.BornTimestamp(), BornHost: r.BornHost(),
		StoreHost: t.b.storeHost, ReconsumeTimes: r.ReconsumeTimes(), Body: r.Body(),
	}
	dueV, _ := message.LookupProperty(props, message.PropertyTimerOutMS)
	due, _ := strconv.ParseInt(string(dueV), 10, 64)
	if due > now {
		rolls, _ := message.LookupProperty(props, PropertyTimerRollTimes)
		n, _ := strconv.Atoi(string(rolls))
		m.Topic, m.QueueID = TopicTimer, 0
		m.Properties = message.AppendProperty(message.AppendPropertiesWithout(nil, props, PropertyTimerRollTimes),
			PropertyTimerRollTimes, strconv.Itoa(n+1))
		_, err := t.b.store.Put(&m)
		return err
	}
	topic, ok := message.LookupProperty(props, message.PropertyRealTopic)
	qv, ok2 := message.LookupProperty(props, message.PropertyRealQueueID)
	qid, err := strconv.Atoi(string(qv))
	if !ok || !ok2 || err != nil {
		t.b.log.Error("timer message without a valid REAL_TOPIC/REAL_QID; dropped", "offset", offset)
		return nil
	}
	m.Topic, m.QueueID = string(topic), int32(qid)
	m.Properties = message.AppendPropertiesWithout(nil, props, message.PropertyTimerOutMS, PropertyTimerRollTimes,
		message.PropertyRealTopic, message.PropertyRealQueueID, message.PropertyTimerDeliverMS,
		message.PropertyTimerDelaySec, message.PropertyTimerDelayMS)
	if _, err := t.b.store.Put(&m); err != nil {
		return fmt.Errorf("store in %s/%d: %w", m.Topic, m.QueueID, err)
	}
	return nil
}

// persist saves the progress if it changed (at most once a second unless
// forced), after syncing the store.
func (t *timerService) persist(force bool) error {
	t.mu.Lock()
	if !t.dirty || (!force && time.Since(t.lastSaved) < time.Second) {
		t.mu.Unlock()
		return nil
	}
	f := timerProgressFile{Watermark: t.done.watermark, Done: t.done.encode()}
	t.dirty = false
	t.mu.Unlock()
	if err := t.b.store.Sync(); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return err
	}
	if err := t.file.save(f); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return err
	}
	t.mu.Lock()
	t.lastSaved = time.Now()
	t.mu.Unlock()
	return nil
}

// pendingFloor is the commit-log offset of the oldest pending timer
// (math.MaxInt64 if none).
func (t *timerService) pendingFloor() int64 {
	t.mu.Lock()
	wm := t.done.watermark
	t.mu.Unlock()
	if wm >= t.b.store.MaxOffset(TopicTimer, 0) {
		return maxInt64
	}
	phys, err := t.b.store.PhysOffsetAt(TopicTimer, 0, max(wm, t.b.store.MinOffset(TopicTimer, 0)))
	if err != nil {
		return maxInt64
	}
	return phys
}

// pending is the number of timers not yet delivered (for tests and stats).
func (t *timerService) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.heap)
}

const maxInt64 = int64(^uint64(0) >> 1)
