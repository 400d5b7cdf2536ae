package worker

import (
	"context"
	"time"
)

// idleCut decides what to do with a partial batch when messages stop coming while a
// sender is free. Either nothing more can come — this replica holds all it may
// (its slots), the consumer has nothing pending, or the consumer's max_ack_pending
// (shared by the replicas) holds the rest back until this batch is acked — and the
// batch leaves now, or the rows are merely slow to arrive (a busy machine) and the
// batch waits to fill, max_wait at most. The consumer is asked (one Info call) only
// when the slots do not tell.
type idleCut struct {
	timer     *time.Timer
	after     time.Duration // how long without arrivals counts as stopped
	lastGroup time.Time
	pending   uint64    // the consumer's NumPending with the newest message
	asking    bool      // an Info call is under way
	answer    chan bool // its verdict: true when nothing more can come
}

func newIdleCut(maxWait time.Duration) idleCut {
	return idleCut{timer: stoppedTimer(), after: max(min(maxWait/10, 25*time.Millisecond), time.Millisecond),
		answer: make(chan bool, 1)}
}

// idleFired runs when nothing arrived for idle.after.
func (p *pipeline) idleFired() {
	if !p.batch.Partial() || p.inflight >= p.w.opts.InFlight || time.Since(p.idle.lastGroup) < p.idle.after {
		return
	}
	if len(p.fetch.slots) == cap(p.fetch.slots) {
		p.batch.Cut() // this replica holds all it may: the rest waits for acks
		return
	}
	if p.idle.asking {
		return
	}
	p.idle.asking = true
	go func() {
		ctx, cancel := context.WithTimeout(p.ioCtx, 2*time.Second)
		info, err := p.fetch.cons.Info(ctx)
		cancel()
		held := err != nil || info.NumPending == 0 ||
			(info.Config.MaxAckPending > 0 && info.NumAckPending >= info.Config.MaxAckPending*9/10)
		select {
		case p.idle.answer <- held:
		case <-p.quit:
		}
	}()
}

// idleAnswered applies the consumer's verdict.
func (p *pipeline) idleAnswered(held bool) {
	p.idle.asking = false
	if held && p.batch.Partial() && p.inflight < p.w.opts.InFlight {
		p.batch.Cut()
	}
}
