package worker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// evStatus is where one event of a message stands in this delivery.
type evStatus uint8

const (
	evNew       evStatus = iota
	evSeen               // the sent log has it: a duplicate (set by the transform stage)
	evQueued             // in the batcher or in flight
	evFollower           // waits for a copy (same name and id) in another message
	evSent               // TikTok accepted it
	evDup                // a duplicate: already sent, or its copy was accepted
	evRejected           // TikTok refused it; its rows are letters
	evUnsettled          // no answer settled it; the message goes back or is exhausted
)

// handBack says why a message cannot be acked in this delivery. Higher values win:
// a credential problem is never dead-lettered, whatever else happened.
type handBack uint8

const (
	hbNone       handBack = iota
	hbOutage              // TikTok gave up after max_elapsed: NAK, or retries_exhausted at max_deliver
	hbStore               // the sent log or the DLQ failed: NAK after a short delay
	hbPaused              // not tried: the destination paused; NAK with the pause's delay
	hbRelease             // shutdown, or pulled while paused or draining: NAK at once
	hbCredential          // TikTok refused the credentials: NAK, never dead-letter
)

// inMsg is one delivered message and the state of its rows in this delivery. The
// transform stage fills it; from then on only the core goroutine touches it.
type inMsg struct {
	msg       jetstream.Msg
	subject   string
	seq       uint64    // stream sequence
	delivered int       // NumDelivered
	pending   uint64    // the consumer's NumPending when it was delivered
	published time.Time // JetStream's timestamp of the message
	body      []byte

	res       events.Result
	ev        []evStatus   // per event of res.Events
	letters   []dlq.Letter // rows to dead-letter once the rest of the message is settled
	rows      int
	skipped   bool   // not transformed (pulled while paused or draining)
	lastError string // the error that left events unsettled, for retries_exhausted

	open, io      int // events without an outcome; records or letters not yet acknowledged
	sent, dup     int // rows
	hb            handBack
	lettersQueued bool
	done          bool
	job           *ioJob // the job this message last joined (so io counts it once)

	touched    time.Time // last arrival or keep-alive
	prev, next *inMsg    // the live list
}

var msgPool = sync.Pool{New: func() any { return new(inMsg) }}

func getMsg() *inMsg { return msgPool.Get().(*inMsg) }

// release clears m for reuse, keeping its buffers.
func (m *inMsg) release() {
	res := m.res
	ev, letters := m.ev[:0], m.letters[:0]
	clear(m.letters)
	*m = inMsg{res: res, ev: ev, letters: letters}
	msgPool.Put(m)
}

func (m *inMsg) raise(hb handBack) {
	if hb > m.hb {
		m.hb = hb
	}
}

// evRef names one event of one message.
type evRef struct {
	m *inMsg
	i int
}

func (r evRef) event() *events.Event { return &r.m.res.Events[r.i] }
func (r evRef) status() *evStatus    { return &r.m.ev[r.i] }

// key is TikTok's dedup key of the event (its name and id).
func (r evRef) key() dedup.Key {
	ev := r.event()
	return dedup.Key{Event: ev.Name, ID: ev.ID}
}

// group is what the transform stage hands the core: messages transformed and looked
// up in the sent log together.
type group struct {
	msgs  []*inMsg
	keys  []dedup.Key
	seen  []bool
	refs  []evRef
	rows  int
	epoch uint64 // sent-log appends acknowledged before the lookup was made
}

var groupPool = sync.Pool{New: func() any { return new(group) }}

func (g *group) release() {
	clear(g.msgs)
	clear(g.refs)
	clear(g.keys)
	*g = group{msgs: g.msgs[:0], keys: g.keys[:0], seen: g.seen[:0], refs: g.refs[:0]}
	groupPool.Put(g)
}

// liveList links every message in hand, for keep-alives, the oldest-pending gauge
// and the final hand-back.
type liveList struct {
	head *inMsg
	n    int
}

func (l *liveList) push(m *inMsg) {
	m.next, m.prev = l.head, nil
	if l.head != nil {
		l.head.prev = m
	}
	l.head = m
	l.n++
}

func (l *liveList) remove(m *inMsg) {
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		l.head = m.next
	}
	if m.next != nil {
		m.next.prev = m.prev
	}
	m.prev, m.next = nil, nil
	l.n--
}
