package worker

import (
	"fmt"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// check acks or hands back a message once nothing about it is outstanding: every
// event has an outcome and every record and letter it waits for is acknowledged.
func (p *pipeline) check(m *inMsg) {
	if m.open > 0 || m.io > 0 || m.done {
		return
	}
	if m.hb != hbNone {
		if m.hb != hbOutage || m.delivered < p.w.opts.MaxDeliver {
			p.nak(m)
			return
		}
		p.exhaust(m)
	}
	if len(m.letters) > 0 && !m.lettersQueued {
		// Dead letters go out only now, when the message is otherwise settled, so a
		// message handed back never leaves letters behind for rows it will redo.
		m.lettersQueued = true
		p.rec.job.letters = append(p.rec.job.letters, m.letters...)
		p.rec.job.join(m)
		return
	}
	p.ack(m)
}

// exhaust dead-letters the unsettled rows of a message delivered max_deliver times.
func (p *pipeline) exhaust(m *inMsg) {
	now := p.w.deps.Clock()
	text := fmt.Sprintf("delivered %d times (max_deliver %d) without an answer from TikTok that settles it; last error: %s",
		m.delivered, p.w.opts.MaxDeliver, m.lastError)
	for i := range m.ev {
		if m.ev[i] != evUnsettled {
			continue
		}
		for _, row := range m.res.Events[i].Rows {
			m.letters = append(m.letters, p.deadLetter(p.coreTF, m, row, events.ReasonRetriesExhausted, text, "", now))
		}
	}
	m.hb = hbNone
}

// nak hands m back to the stream, with a delay that fits why.
func (p *pipeline) nak(m *inMsg) {
	var delay time.Duration
	switch m.hb {
	case hbOutage, hbPaused, hbCredential:
		delay = p.pauser.nakDelay(p.w.opts.ProbeMin)
	case hbStore:
		delay = p.w.opts.ProbeMin
	}
	var err error
	if delay > 0 {
		err = m.msg.NakWithDelay(delay)
	} else {
		err = m.msg.Nak()
	}
	if err != nil {
		p.log.Debug().Err(err).Msg("nak")
	}
	p.stats.handedBack.Add(1)
	p.met.HandedBack(1)
	p.finish(m, true)
}

// ack acknowledges m and counts its rows: this is where the accounting identity
// received = sent + duplicates + dead-lettered is kept, per message.
func (p *pipeline) ack(m *inMsg) {
	if err := m.msg.Ack(); err != nil {
		p.log.Debug().Err(err).Msg("ack")
	}
	t := &p.tally
	t.received += int64(m.rows)
	t.sent += int64(m.sent)
	t.duplicates += int64(m.dup)
	t.messages++
	for i := range m.letters {
		r := m.letters[i].Reason
		t.dead(events.Reason(r))
		p.met.DeadLettered(r, 1)
	}
	p.met.Settled(m.rows, m.sent, m.dup)
	if m.rows != m.sent+m.dup+len(m.letters) {
		p.log.Error().Uint64("seq", m.seq).Int("rows", m.rows).Int("sent", m.sent).Int("duplicates", m.dup).
			Int("dead_lettered", len(m.letters)).Msg("accounting mismatch: a row of this message is counted twice or not at all")
	}
	p.finish(m, true)
}

// finish forgets m. reuse is false when a sender may still read it (a drain that ran
// out of time).
func (p *pipeline) finish(m *inMsg, reuse bool) {
	m.done = true
	p.live.remove(m)
	p.fetch.done()
	if reuse {
		m.release()
	}
}

// keepAlive tells the server that messages held longer than a third of ack_wait are
// still being worked on, so a long retry does not get them redelivered elsewhere.
func (p *pipeline) keepAlive() {
	now := time.Now()
	every := p.w.opts.AckWait / 3
	for m := p.live.head; m != nil; m = m.next {
		if now.Sub(m.touched) >= every {
			_ = m.msg.InProgress()
			m.touched = now
		}
	}
}

// oldestPending is the age of the oldest message in hand, by its JetStream
// timestamp (0 when none is held).
func (p *pipeline) oldestPending(now time.Time) time.Duration {
	var oldest time.Time
	for m := p.live.head; m != nil; m = m.next {
		if !m.published.IsZero() && (oldest.IsZero() || m.published.Before(oldest)) {
			oldest = m.published
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return now.Sub(oldest)
}
