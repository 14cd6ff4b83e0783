package broker

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/message"
	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/remoting"
	"github.com/petrel-mq/petrel/internal/store"
	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// Transactional messages, RocketMQ's two-phase send. A half message waits
// in RMQ_SYS_TRANS_HALF_TOPIC queue 0 (with REAL_TOPIC and REAL_QID) until
// its producer ends the transaction (END_TRANSACTION): a commit stores it in
// its real topic, a rollback drops it; either is recorded by an op message
// in RMQ_SYS_TRANS_OP_HALF_TOPIC (tags "d", body the half's queue offset),
// as in RocketMQ, so a restart knows what is settled.
//
// Where RocketMQ's checker re-reads both queues every round and appends a
// copy of each half message it checks, petrel keeps the unsettled halves in
// memory (rebuilt at start from the two queues and a progress file) and
// checks each at its own time: first transactionTimeOut (or the message's
// CHECK_IMMUNITY_TIME_IN_SECONDS) after it was stored, then every
// transactionCheckInterval. A check answered late is still valid, because
// the half is never copied and its offsets stay the same. Check counts and
// the settled set are persisted in transactionState.json after the store is
// synced.
//
// Only checks actually sent to a live producer count towards
// transactionCheckMax: RocketMQ also counts rounds in which no producer
// was connected, so a producer group down for 15 minutes loses every open
// transaction. A half message older than fileReservedTime is discarded
// either way, so none holds back retention for ever. Discarded halves go to
// TRANS_CHECK_MAX_TIME_TOPIC, never to their real topic.

const txStateFile = "transactionState.json"

// pendingHalf is an unsettled half message.
type pendingHalf struct {
	offset    int64 // half-queue offset
	phys      int64
	storeTs   int64
	group     string
	checks    int
	nextCheck int64          // unix ms
	conn      *remoting.Conn // the connection that sent it: a check target if no producer heartbeats
}

type txCheck struct{ at, offset int64 }

type txCheckHeap []txCheck

func (h txCheckHeap) Len() int           { return len(h) }
func (h txCheckHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h txCheckHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *txCheckHeap) Push(x any)        { *h = append(*h, x.(txCheck)) }
func (h *txCheckHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// transactionService owns the unsettled halves and the check-back
// goroutine.
type transactionService struct {
	b    *Broker
	file jsonFile

	mu        sync.Mutex
	pending   map[int64]*pendingHalf
	ending    map[int64]bool // halves whose END_TRANSACTION is being stored
	done      doneSet        // settled half offsets
	opScanned int64          // op-queue entries below are reflected in done
	checks    txCheckHeap    // lazily invalidated: an entry counts only if it matches pending's nextCheck
	// senders is the last connection that sent a half message of each
	// producer group: a check target before the group's producers
	// heartbeat (the Go client does so only every 30 s, also after a
	// broker restart).
	senders   map[string]*remoting.Conn
	dirty     bool
	lastSaved time.Time

	kick, stop, exit chan struct{}
}

type txStateFileData struct {
	Watermark int64            `json:"watermark"`
	Done      string           `json:"done"`
	OpScanned int64            `json:"opScanned"`
	Checks    map[string]int64 `json:"checks,omitempty"` // half offset → check-backs sent
}

func newTransactionService(b *Broker, fs vfs.FS, dir string) *transactionService {
	return &transactionService{b: b, file: jsonFile{fs: fs, path: path.Join(dir, txStateFile)},
		pending: make(map[int64]*pendingHalf), ending: make(map[int64]bool), senders: make(map[string]*remoting.Conn),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), exit: make(chan struct{})}
}

// load rebuilds the unsettled halves: the progress file, then op messages
// written after it was saved, then every half message not settled.
func (x *transactionService) load() error {
	var f txStateFileData
	if _, err := x.file.load(&f); err != nil {
		return err
	}
	d, err := decodeDoneSet(f.Watermark, f.Done)
	if err != nil {
		return fmt.Errorf("%s: %w", x.file.path, err)
	}
	x.done, x.opScanned = d, f.OpScanned
	st := x.b.store
	err = x.readQueue(TopicTransOpHalf, max(x.opScanned, st.MinOffset(TopicTransOpHalf, 0)), func(_ int64, r message.Record) {
		if off, err := strconv.ParseInt(string(r.Body()), 10, 64); err == nil {
			x.done.add(off)
		}
	})
	if err != nil {
		return err
	}
	x.opScanned = st.MaxOffset(TopicTransOpHalf, 0)
	now := x.b.now().UnixMilli()
	return x.readQueue(TopicTransHalf, max(x.done.watermark, st.MinOffset(TopicTransHalf, 0)), func(off int64, r message.Record) {
		if x.done.has(off) {
			return
		}
		p := x.newPending(off, r, nil)
		p.checks = int(f.Checks[strconv.FormatInt(off, 10)])
		if p.checks > 0 {
			p.nextCheck = max(p.nextCheck, now) // checked before the restart: next round soon
		}
		x.addLocked(p)
	})
}

// readQueue calls fn for each message of queue 0 of topic from offset on.
func (x *transactionService) readQueue(topic string, from int64, fn func(off int64, r message.Record)) error {
	st := x.b.store
	var buf []byte
	for from < st.MaxOffset(topic, 0) {
		res := st.GetMessages(topic, 0, from, 256, 4<<20, nil, buf[:0])
		switch res.Status {
		case store.Found:
		case store.OffsetFoundNull, store.NoMatchedMessage:
			from = res.NextBeginOffset
			continue
		default:
			return fmt.Errorf("read %s at %d: %s", topic, from, res.Status)
		}
		for rec := res.Buffer; len(rec) > 0; {
			r := message.Record(rec)
			n := int(r.TotalSize())
			fn(r.QueueOffset(), r[:n])
			rec = rec[n:]
		}
		if res.NextBeginOffset <= from {
			return fmt.Errorf("read %s at %d: no progress", topic, from)
		}
		from = res.NextBeginOffset
		buf = res.Buffer
	}
	return nil
}

// newPending describes a stored half message.
func (x *transactionService) newPending(off int64, r message.Record, conn *remoting.Conn) *pendingHalf {
	return x.pendingOf(off, r.PhysicalOffset(), r.StoreTimestamp(), r.Properties(), conn)
}

func (x *transactionService) pendingOf(off, phys, storeTs int64, props []byte, conn *remoting.Conn) *pendingHalf {
	group, _ := message.LookupProperty(props, message.PropertyProducerGroup)
	wait := x.b.cfg.TransactionTimeout.Milliseconds()
	if v, ok := message.LookupProperty(props, message.PropertyCheckImmunityTimeInSeconds); ok {
		if s, err := strconv.ParseInt(string(v), 10, 64); err == nil && s > 0 {
			wait = s * 1000
		}
	}
	return &pendingHalf{offset: off, phys: phys, storeTs: storeTs, group: string(group), nextCheck: storeTs + wait, conn: conn}
}

func (x *transactionService) addLocked(p *pendingHalf) {
	x.pending[p.offset] = p
	heap.Push(&x.checks, txCheck{at: p.nextCheck, offset: p.offset})
}

// storeHalf stores m as a half message and returns the put result; m's
// topic and queue are its real ones.
func (x *transactionService) storeHalf(m *message.Message, producerGroup string, conn *remoting.Conn) (store.PutResult, error) {
	props := message.AppendPropertiesWithout(nil, m.Properties, message.PropertyRealTopic, message.PropertyRealQueueID)
	if _, ok := message.LookupProperty(props, message.PropertyProducerGroup); !ok {
		props = message.AppendProperty(props, message.PropertyProducerGroup, producerGroup)
	}
	props = message.AppendProperty(props, message.PropertyRealTopic, m.Topic)
	props = message.AppendProperty(props, message.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Properties = props
	m.Topic, m.QueueID = TopicTransHalf, 0
	// The stored half is an ordinary record, so it gets a consume-queue
	// entry the checker and recovery can find (RocketMQ does the same).
	m.SysFlag = message.ResetTransactionType(m.SysFlag, message.TransactionNotType)
	res, err := x.b.store.Put(m)
	if err != nil {
		return res, err
	}
	p := x.pendingOf(res.QueueOffset, res.PhysOffset, res.StoreTimestamp, m.Properties, conn)
	x.mu.Lock()
	if !x.done.has(res.QueueOffset) && x.pending[res.QueueOffset] == nil {
		x.addLocked(p)
	}
	if conn != nil {
		x.senders[p.group] = conn
	}
	x.mu.Unlock()
	x.wake()
	return res, nil
}

func (x *transactionService) wake() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

func (x *transactionService) start() { go x.run() }

func (x *transactionService) close() error {
	close(x.stop)
	<-x.exit
	return x.persist(true)
}

func (x *transactionService) run() {
	defer close(x.exit)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := x.checkDue()
		if err := x.persist(false); err != nil {
			x.b.log.Error("transaction: persist state", "err", err)
		}
		wait := time.Second
		if next > 0 {
			wait = min(wait, time.Until(time.UnixMilli(next)))
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-timer.C:
		case <-x.kick:
		case <-x.stop:
			return
		}
	}
}

// checkDue checks every half whose time has come and returns the next
// check time (0 if none).
func (x *transactionService) checkDue() int64 {
	for {
		now := x.b.now().UnixMilli()
		x.mu.Lock()
		var p *pendingHalf
		for len(x.checks) > 0 {
			c := x.checks[0]
			q := x.pending[c.offset]
			if q == nil || q.nextCheck != c.at || x.ending[c.offset] {
				heap.Pop(&x.checks)
				if q != nil && x.ending[c.offset] {
					q.nextCheck = now + 1000 // look again if the end fails
					heap.Push(&x.checks, txCheck{at: q.nextCheck, offset: c.offset})
				}
				continue
			}
			if c.at > now {
				x.mu.Unlock()
				return c.at
			}
			heap.Pop(&x.checks)
			p = q
			break
		}
		if p == nil {
			x.mu.Unlock()
			return 0
		}
		cp := *p
		x.mu.Unlock()
		x.check(&cp, now)
	}
}

// check sends one check-back for p, or discards p if it is out of checks
// or older than fileReservedTime.
func (x *transactionService) check(p *pendingHalf, now int64) {
	cfg := x.b.cfg
	reschedule := func(at int64, sent bool) {
		x.mu.Lock()
		if q := x.pending[p.offset]; q != nil {
			if sent {
				q.checks++
				x.dirty = true
			}
			q.nextCheck = at
			heap.Push(&x.checks, txCheck{at: at, offset: p.offset})
		}
		x.mu.Unlock()
	}
	if p.checks >= cfg.TransactionCheckMax || now-p.storeTs > cfg.FileReservedTime.Milliseconds() {
		if err := x.discard(p); err != nil {
			x.b.log.Error("transaction: discard a half message; retrying in 1 s", "offset", p.offset, "err", err)
			reschedule(now+1000, false)
		}
		return
	}
	rec, err := x.b.store.ReadMessage(p.phys, nil)
	if err != nil {
		x.b.log.Error("transaction: read a half message; retrying in 1 s", "offset", p.offset, "err", err)
		reschedule(now+1000, false)
		return
	}
	req, err := x.checkRequest(p, message.Record(rec))
	if err != nil {
		x.b.log.Error("transaction: half message unusable; discarding", "offset", p.offset, "err", err)
		if err := x.discard(p); err != nil {
			reschedule(now+1000, false)
		}
		return
	}
	for _, c := range x.producerConns(p) {
		if err := c.InvokeOneway(req); err == nil {
			x.b.log.Debug("transaction: check-back sent", "offset", p.offset, "group", p.group, "conn", c, "checks", p.checks+1)
			reschedule(now+cfg.TransactionCheckInterval.Milliseconds(), true)
			return
		}
	}
	// No producer of the group is connected: not counted; look again soon.
	reschedule(now+min(cfg.TransactionCheckInterval, 5*time.Second).Milliseconds(), false)
}

// producerConns lists the connections a check for p may go to: the
// group's heartbeating producers in random order, then the one that sent
// the half, then the last one that sent a half of the group.
func (x *transactionService) producerConns(p *pendingHalf) []*remoting.Conn {
	conns := x.b.clients.producerConns(p.group)
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	x.mu.Lock()
	recent := x.senders[p.group]
	x.mu.Unlock()
	for _, c := range []*remoting.Conn{p.conn, recent} {
		if c == nil {
			continue
		}
		select {
		case <-c.Closed():
			if c == recent {
				x.mu.Lock()
				if x.senders[p.group] == c {
					delete(x.senders, p.group)
				}
				x.mu.Unlock()
			}
		default:
			conns = append(conns, c)
		}
	}
	return conns
}

// checkRequest builds CHECK_TRANSACTION_STATE for a half: the body is the
// half message as stored, with its real topic and queue.
func (x *transactionService) checkRequest(p *pendingHalf, r message.Record) (*protocol.Command, error) {
	m, err := realMessage(r, x.b.storeHost)
	if err != nil {
		return nil, err
	}
	m.SysFlag = message.ResetTransactionType(m.SysFlag, message.TransactionPreparedType)
	m.Properties = message.AppendProperty(message.AppendPropertiesWithout(nil, m.Properties, message.PropertyTransactionCheckTimes),
		message.PropertyTransactionCheckTimes, strconv.Itoa(p.checks+1))
	m.PrepareEncode()
	body := make([]byte, m.EncodedSize())
	m.Encode(body, r.QueueOffset(), r.PhysicalOffset(), r.StoreTimestamp())
	uniq, _ := message.LookupProperty(r.Properties(), message.PropertyUniqClientMessageID)
	return protocol.NewRequest(protocol.CheckTransactionState, protocol.FieldsOf(
		"tranStateTableOffset", strconv.FormatInt(p.offset, 10),
		"commitLogOffset", strconv.FormatInt(p.phys, 10),
		"msgId", string(uniq),
		"transactionId", string(uniq),
		"offsetMsgId", message.OffsetMsgID(x.b.storeHost, p.phys),
	), body), nil
}

// realMessage rebuilds a half (or held) record as a message for its
// REAL_TOPIC and REAL_QID, without those two properties.
func realMessage(r message.Record, storeHost netip.AddrPort) (message.Message, error) {
	props := r.Properties()
	topic, ok := message.LookupProperty(props, message.PropertyRealTopic)
	qv, ok2 := message.LookupProperty(props, message.PropertyRealQueueID)
	qid, err := strconv.Atoi(string(qv))
	if !ok || !ok2 || err != nil || qid < 0 {
		return message.Message{}, fmt.Errorf("no valid REAL_TOPIC/REAL_QID at commit-log offset %d", r.PhysicalOffset())
	}
	return message.Message{
		Topic: string(topic), QueueID: int32(qid), Flag: r.Flag(), SysFlag: r.SysFlag(),
		BornTimestamp: r.BornTimestamp(), BornHost: r.BornHost(), StoreHost: storeHost,
		ReconsumeTimes: r.ReconsumeTimes(), Body: r.Body(),
		Properties: message.AppendPropertiesWithout(nil, props, message.PropertyRealTopic, message.PropertyRealQueueID),
	}, nil
}

// discard parks an unsettled half in TRANS_CHECK_MAX_TIME_TOPIC, where an
// operator can read it, and settles it.
func (x *transactionService) discard(p *pendingHalf) error {
	if !x.claim(p.offset) {
		return nil // settled or being ended meanwhile
	}
	rec, err := x.b.store.ReadMessage(p.phys, nil)
	if err != nil {
		x.unclaim(p.offset)
		return err
	}
	r := message.Record(rec)
	if _, err := x.b.ensureTopic(TopicTransCheckMax, 1, body.PermRead|body.PermWrite); err != nil {
		x.unclaim(p.offset)
		return err
	}
	m := message.Message{
		Topic: TopicTransCheckMax, Flag: r.Flag(), SysFlag: r.SysFlag(), BornTimestamp: r.BornTimestamp(),
		BornHost: r.BornHost(), StoreHost: x.b.storeHost, ReconsumeTimes: r.ReconsumeTimes(), Body: r.Body(),
		Properties: message.AppendProperty(message.AppendPropertiesWithout(nil, r.Properties(), message.PropertyTransactionCheckTimes),
			message.PropertyTransactionCheckTimes, strconv.Itoa(p.checks)),
	}
	if _, err := x.b.store.Put(&m); err != nil {
		x.unclaim(p.offset)
		return fmt.Errorf("store in %s: %w", TopicTransCheckMax, err)
	}
	topic, _ := message.LookupProperty(r.Properties(), message.PropertyRealTopic)
	uniq, _ := message.LookupProperty(r.Properties(), message.PropertyUniqClientMessageID)
	x.b.log.Warn("transaction: half message never resolved; discarded to "+TopicTransCheckMax,
		"topic", string(topic), "msgId", string(uniq), "producerGroup", p.group, "checks", p.checks, "halfOffset", p.offset)
	x.settle(p.offset)
	return nil
}

// claim reserves an unsettled half for one ending (commit, rollback or
// discard); false if it is settled or another ending holds it.
func (x *transactionService) claim(off int64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done.has(off) || x.ending[off] {
		return false
	}
	x.ending[off] = true
	return true
}

// unclaim releases a claim whose ending failed; the half stays unsettled.
func (x *transactionService) unclaim(off int64) {
	x.mu.Lock()
	delete(x.ending, off)
	x.mu.Unlock()
}

// settle records a half as settled, in memory and in the op queue.
func (x *transactionService) settle(off int64) {
	x.mu.Lock()
	x.done.add(off)
	delete(x.pending, off)
	delete(x.ending, off)
	x.dirty = true
	x.mu.Unlock()
	op := message.Message{
		Topic: TopicTransOpHalf, StoreHost: x.b.storeHost, BornHost: x.b.storeHost, BornTimestamp: x.b.now().UnixMilli(),
		Body:       []byte(strconv.FormatInt(off, 10)),
		Properties: message.AppendProperty(nil, message.PropertyTags, "d"),
	}
	if _, err := x.b.store.Put(&op); err != nil {
		// The progress file records the settlement; the op message only
		// speeds up the next start.
		x.b.log.Error("transaction: store the op message", "halfOffset", off, "err", err)
	}
}

// persist saves the settled set and check counts if they changed (at most
// once a second unless forced), after syncing the store: the file never
// vouches for a commit a power loss could take back.
func (x *transactionService) persist(force bool) error {
	x.mu.Lock()
	if !x.dirty || (!force && time.Since(x.lastSaved) < time.Second) {
		x.mu.Unlock()
		return nil
	}
	f := txStateFileData{Watermark: x.done.watermark, Done: x.done.encode(), OpScanned: x.b.store.MaxOffset(TopicTransOpHalf, 0)}
	for off, p := range x.pending {
		if p.checks > 0 {
			if f.Checks == nil {
				f.Checks = make(map[string]int64)
			}
			f.Checks[strconv.FormatInt(off, 10)] = int64(p.checks)
		}
	}
	x.dirty = false
	x.mu.Unlock()
	err := x.b.store.Sync()
	if err == nil {
		err = x.file.save(f)
	}
	x.mu.Lock()
	if err != nil {
		x.dirty = true
	} else {
		x.lastSaved = time.Now()
	}
	x.mu.Unlock()
	return err
}

// pendingFloor is the commit-log offset of the oldest unsettled half
// (maxInt64 if none).
func (x *transactionService) pendingFloor() int64 {
	x.mu.Lock()
	wm := x.done.watermark
	x.mu.Unlock()
	st := x.b.store
	if wm >= st.MaxOffset(TopicTransHalf, 0) {
		return maxInt64
	}
	phys, err := st.PhysOffsetAt(TopicTransHalf, 0, max(wm, st.MinOffset(TopicTransHalf, 0)))
	if err != nil {
		return maxInt64
	}
	return phys
}

// unsettled is the number of half messages awaiting their producer.
func (x *transactionService) unsettled() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.pending)
}
