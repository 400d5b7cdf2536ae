package worker

import (
	"time"
)

// drainCuts are the points of drain_timeout at which a drain gives up on parts of
// the work: requests in flight (60 %), sent-log records and dead letters (80 %), and
// finally everything left is handed back (90 %), so Run returns within drain_timeout.
type drainCuts struct {
	end                   time.Time
	sends, io, hardStop   <-chan time.Time
	cancelSends, cancelIO func()
}

// startDrain begins the shutdown: stop pulling, hand back what is not in flight.
func (p *pipeline) startDrain(d *drainCuts) {
	o := p.w.opts
	d.end = time.Now().Add(o.DrainTimeout)
	d.sends = time.After(o.DrainTimeout * 6 / 10)
	d.io = time.After(o.DrainTimeout * 8 / 10)
	d.hardStop = time.After(o.DrainTimeout * 9 / 10)
	p.move(drain, time.Now(), "")
	p.fetch.stop()
	p.pauser.timer.Stop()
	p.handBackQueued(hbRelease)
	p.log.Info().Int("in_flight", p.inflight).Int("messages", p.live.n).Msg("draining")
}

// abandon is the end of a drain that ran out of time: NAK whatever is left. Messages
// are not reused, since a sender may still read them.
func (p *pipeline) abandon() {
	n := 0
	for m := p.live.head; m != nil; {
		next := m.next
		_ = m.msg.Nak()
		p.stats.handedBack.Add(1)
		p.finish(m, false)
		n++
		m = next
	}
	p.met.HandedBack(n)
	if n > 0 {
		p.log.Warn().Int("messages", n).Msg("drain timeout: handed back the messages still in progress")
	}
}

// draining reports whether the destination is shutting down.
func (p *pipeline) draining() bool {
	st, _, _ := p.status.get()
	return st == Draining || st == Stopped
}

// notDelivering is why an event cannot be sent now: the destination is paused or
// draining (hbNone when it can).
func (p *pipeline) notDelivering() handBack {
	switch st, _, _ := p.status.get(); st {
	case Paused:
		return hbPaused
	case Draining, Stopped:
		return hbRelease
	}
	return hbNone
}
