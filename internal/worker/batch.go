package worker

import (
	"encoding/json"
	"time"
)

// batch is one request's worth of events, and its result once sent.
type batch struct {
	refs   []evRef
	events []json.RawMessage
	res    sendResult
}

// batcher fills requests with events (after Benthos's batcher: Add, Cut, and a timer
// for the partial batch). A batch is cut at size events or after maxWait; the core
// also cuts early when nothing more is coming. Owned by the core goroutine.
type batcher struct {
	size    int
	maxWait time.Duration
	cur     *batch
	ready   []*batch // cut, waiting for a sender
	free    []*batch
	timer   *time.Timer // maxWait of the partial batch
	armed   bool
}

func newBatcher(size int, maxWait time.Duration) batcher {
	return batcher{size: size, maxWait: maxWait, timer: stoppedTimer()}
}

// Add appends one event; a full batch is cut at once.
func (b *batcher) Add(ref evRef) {
	if b.cur == nil {
		b.cur = b.get()
	}
	b.cur.refs = append(b.cur.refs, ref)
	b.cur.events = append(b.cur.events, json.RawMessage(ref.event().JSON))
	if !b.armed {
		b.timer.Reset(b.maxWait)
		b.armed = true
	}
	if len(b.cur.refs) >= b.size {
		b.Cut()
	}
}

// Cut closes the batch being filled.
func (b *batcher) Cut() {
	if b.cur != nil && len(b.cur.refs) > 0 {
		b.ready = append(b.ready, b.cur)
		b.cur = nil
	}
	b.disarm()
}

// Next takes the oldest cut batch, or nil.
func (b *batcher) Next() *batch {
	if len(b.ready) == 0 {
		return nil
	}
	x := b.ready[0]
	copy(b.ready, b.ready[1:])
	b.ready[len(b.ready)-1] = nil
	b.ready = b.ready[:len(b.ready)-1]
	return x
}

// TakeAll empties the batcher: the partial batch and every cut one.
func (b *batcher) TakeAll() []*batch {
	bs := b.ready
	if b.cur != nil {
		bs = append(bs, b.cur)
		b.cur = nil
	}
	b.ready = nil
	b.disarm()
	return bs
}

// Partial reports whether a batch is being filled.
func (b *batcher) Partial() bool { return b.cur != nil }

func (b *batcher) disarm() {
	if b.armed {
		b.timer.Stop()
		b.armed = false
	}
}

func (b *batcher) get() *batch {
	if n := len(b.free); n > 0 {
		x := b.free[n-1]
		b.free = b.free[:n-1]
		return x
	}
	return &batch{refs: make([]evRef, 0, b.size), events: make([]json.RawMessage, 0, b.size)}
}

// Free returns a settled batch for reuse.
func (b *batcher) Free(x *batch) {
	clear(x.refs)
	clear(x.events)
	x.refs, x.events = x.refs[:0], x.events[:0]
	x.res = sendResult{outcomes: x.res.outcomes[:0]}
	b.free = append(b.free, x)
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// enqueue queues one event for a request and re-arms the idle cut.
func (p *pipeline) enqueue(ref evRef) { p.batch.Add(ref) }
