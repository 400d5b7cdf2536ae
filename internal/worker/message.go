package worker

import (
	"encoding/json"
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
	evQueued             // in the batcher or in flight
	evFollower           // waits for an event with the same id from another message
	evSent               // TikTok accepted it
	evDup                // already sent (dedup store, or a leader with its id was accepted)
	evRejected           // TikTok refused it; its rows are letters
	evUnsettled          // no answer settled it; the message goes back or is exhausted
)

type evState struct {
	seen    bool // the dedup store has its receipt: already sent
	claimed bool // this replica may hold a claim on the id (dedup.Claimer): release it if unsent
	held    bool // another replica holds a live claim: the message goes back unsent
	status  evStatus
}

// handBack says why a message cannot be acked in this delivery. Higher values win:
// a credential problem is never dead-lettered, whatever else happened.
type handBack uint8

const (
	hbNone       handBack = iota
	hbHeld                // another replica holds a claim on one of its events: NAK after max(1s, max_wait), never counted
	hbOutage              // TikTok gave up after max elapsed: NAK, or retries_exhausted at max_deliver
	hbStore               // the dedup store or the DLQ failed: NAK after a short delay
	hbPaused              // not tried: the destination paused; NAK with the pause's delay
	hbRelease             // shutdown, or pulled while the stages skipped work: NAK at once
	hbCredential          // TikTok refused the credentials: NAK, never dead-letter
)

// inMsg is one delivered message and the state of its rows in this delivery.
type inMsg struct {
	msg       jetstream.Msg
	subject   string
	seq       uint64 // stream sequence
	delivered int    // NumDelivered
	pending   uint64 // the consumer's NumPending when it was delivered
	body      []byte

	res       events.Result
	ev        []evState
	letters   []dlq.Letter // rows to dead-letter once the rest of the message is settled
	rows      int
	skipped   bool   // not transformed (pulled while paused or draining)
	lastError string // the error that left events unsettled, for retries_exhausted

	open          int // events without an outcome in this delivery
	io            int // dedup marks or DLQ publishes not yet acknowledged
	sent, dup     int // rows
	hb            handBack
	lettersQueued bool
	done          bool
	job           *ioJob // the job this message last joined (so io counts it once)

	touched    time.Time // last arrival or keep-alive
	prev, next *inMsg    // live list
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

// liveList links every message in hand, for keep-alives and the final hand-back.
type liveList struct {
	head *inMsg
	n    int
}

func (l *liveList) push(m *inMsg) {
	m.next = l.head
	m.prev = nil
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

// evRef names one event of one message.
type evRef struct {
	m *inMsg
	i int
}

func (r evRef) event() *events.Event { return &r.m.res.Events[r.i] }
func (r evRef) state() *evState      { return &r.m.ev[r.i] }

// group is what the transform stage hands on: messages transformed together, whose
// event ids are looked up in one Seen call.
type group struct {
	msgs  []*inMsg
	ids   []string
	refs  []evRef
	rows  int
	epoch uint64 // marks acknowledged before the Seen call was made
	// relDone is how many of this replica's releases had completed when the Claim
	// call was made: a release issued later may have deleted a claim the call won.
	relDone uint64
	err     error // the Seen or Claim call failed
}

var groupPool = sync.Pool{New: func() any { return new(group) }}

func (g *group) release() {
	clear(g.msgs)
	clear(g.refs)
	clear(g.ids)
	*g = group{msgs: g.msgs[:0], ids: g.ids[:0], refs: g.refs[:0]}
	groupPool.Put(g)
}

// leader is the one event with a given id that may be pending at a time; events
// with the same id from other messages wait behind it as followers.
type leader struct {
	key       string // owned copy of the event id
	ref       evRef
	followers []evRef
	accepted  bool // accepted; kept until every later Seen call sees its marker
}

// batch is one request's worth of events.
type batch struct {
	refs   []evRef
	events []json.RawMessage
	res    resultOrErr
}

type resultOrErr struct {
	outcomes []outcome
	requests int
	retries  int
	err      error
	took     time.Duration
}

// outcome copies what the worker needs of a tiktokclient.Outcome.
type outcome struct {
	accepted, rejected bool
	code               int
	message, requestID string
}

// ioJob is one turn's worth of dedup marks and dead letters, written together.
type ioJob struct {
	receipts []dedup.Receipt
	leaders  []*leader
	letters  []dlq.Letter
	msgs     []*inMsg
	markErr  error
	dlqErr   error
}

func (j *ioJob) empty() bool { return len(j.receipts) == 0 && len(j.letters) == 0 }

func (j *ioJob) join(m *inMsg) {
	if m.job != j {
		m.job = j
		m.io++
		j.msgs = append(j.msgs, m)
	}
}
