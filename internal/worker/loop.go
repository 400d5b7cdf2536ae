package worker

import (
	"context"
	"time"
)

// loop is the core goroutine: the only one that touches messages, batches and
// copies. It returns the deadline by which run must return.
func (p *pipeline) loop(ctx context.Context, d drainCuts) time.Time {
	o := p.w.opts
	keep := time.NewTicker(max(o.AckWait/3, 10*time.Millisecond))
	defer keep.Stop()
	// The retry watch and the oldest-pending gauge are looked at 4 times per
	// RetryingAfter (at most once a second).
	tick := time.NewTicker(min(max(o.RetryingAfter/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	drainStart := ctx.Done()
	d.end = time.Now().Add(100 * 365 * 24 * time.Hour)
	groupIn := p.groupCh
	for {
		var in chan *group
		if groupIn != nil && len(p.batch.ready) < 2 {
			in = groupIn // back-pressure: no more while two batches wait for a sender
		}
		select {
		case g, ok := <-in:
			if !ok {
				groupIn = nil
			} else {
				p.admit(g)
			}
		case b := <-p.resultCh:
			p.settle(b)
		case j := <-p.ioDoneCh:
			p.ioDone(j)
		case r := <-p.probeCh:
			p.probed(r)
		case <-p.batch.timer.C:
			p.batch.armed = false
			p.batch.Cut()
		case <-p.idle.timer.C:
			p.idleFired()
		case held := <-p.idle.answer:
			p.idleAnswered(held)
		case <-p.pauser.timer.C:
			p.startProbe()
		case <-keep.C:
			p.keepAlive()
		case now := <-tick.C:
			p.watchRetries(now)
			p.met.OldestPending(p.oldestPending(now))
		case <-drainStart:
			drainStart = nil
			p.startDrain(&d)
		case <-d.sends:
			d.sends = nil
			d.cancelSends()
		case <-d.io:
			d.io = nil
			d.cancelIO()
		case <-d.hardStop:
			p.abandon()
			return d.end
		}
		p.endTurn()
		if drainStart == nil && groupIn == nil && p.inflight == 0 && p.rec.running == 0 && p.live.n == 0 && !p.pauser.probing {
			return d.end
		}
	}
}

// endTurn does what one turn of the core loop left to do: cut a batch when nothing
// more is coming, hand batches to idle senders, start the turn's IO job, publish the
// turn's counters.
func (p *pipeline) endTurn() {
	if p.batch.Partial() && len(p.batch.ready) == 0 && p.inflight < p.w.opts.InFlight && p.idle.pending == 0 &&
		len(p.groupCh) == 0 && len(p.fetch.out) == 0 {
		// The consumer reported nothing pending and nothing is on its way: waiting for
		// max_wait would only add latency.
		p.batch.Cut()
	}
	p.dispatch()
	p.startIO()
	if !p.tally.empty() {
		p.stats.publish(&p.tally)
	}
}

// admit takes a group from the transform stage: each message's events go to the
// batcher unless they are duplicates or wait behind a copy.
func (p *pipeline) admit(g *group) {
	p.copies.purge(g.epoch)
	now := time.Now()
	p.idle.lastGroup = now
	hb := p.notDelivering()
	for _, m := range g.msgs {
		m.touched = now
		p.live.push(m)
		p.idle.pending = m.pending
		switch {
		case hb == hbPaused:
			m.raise(hbPaused)
		case m.skipped || hb == hbRelease:
			m.raise(hbRelease)
		default:
			p.admitEvents(m)
		}
		p.check(m)
	}
	if p.batch.Partial() {
		p.idle.timer.Reset(p.idle.after)
	}
	g.release()
}
