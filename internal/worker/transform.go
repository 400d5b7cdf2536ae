package worker

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// transform decodes and transforms the fetched messages, groups what is already
// waiting (up to a batch of rows), and looks the group's events up in the sent log
// (a local lookup) before handing it to the core.
func (p *pipeline) transform() {
	defer close(p.groupCh)
	tf := p.stageTF
	limit := p.w.opts.BatchSize
	for raw := range p.fetch.out {
		g := groupPool.Get().(*group)
		p.prepare(tf, g, raw)
	fill:
		for g.rows < limit && len(g.msgs) < limit {
			select {
			case raw, ok := <-p.fetch.out:
				if !ok {
					break fill
				}
				p.prepare(tf, g, raw)
			default:
				break fill
			}
		}
		p.lookup(g)
		select {
		case p.groupCh <- g:
		case <-p.quit:
			return
		}
	}
}

// prepare turns one raw message into an inMsg in g: rows transformed into events,
// rejects into dead letters, a malformed message into one dead letter of its own.
func (p *pipeline) prepare(tf *events.Transformer, g *group, raw jetstream.Msg) {
	m := getMsg()
	m.msg = raw
	m.subject = raw.Subject()
	m.body = raw.Data()
	if meta, err := raw.Metadata(); err == nil {
		m.seq = meta.Sequence.Stream
		m.delivered = int(meta.NumDelivered)
		m.pending = meta.NumPending
		m.published = meta.Timestamp
	}
	g.msgs = append(g.msgs, m)
	if p.fetch.stopped.Load() {
		m.skipped = true // paused or draining: handed back untouched
		return
	}
	now := p.w.deps.Clock()
	if err := safeMessage(tf, m.body, &m.res); err != nil {
		m.rows = 1
		g.rows++
		m.letters = append(m.letters, p.letter(m, m.body, events.ReasonMalformedMessage, err.Error(), "", 0, now))
		return
	}
	for _, c := range m.res.Ignored {
		// Once per column name per transformer (SPEC §3); names only, never values.
		p.log.Info().Str("column", c.Name).Str("why", c.Why).Msg("ignoring a column of the rows")
	}
	m.rows = m.res.Rows
	g.rows += m.rows
	if cap(m.ev) >= len(m.res.Events) {
		m.ev = m.ev[:len(m.res.Events)]
		clear(m.ev)
	} else {
		m.ev = make([]evStatus, len(m.res.Events))
	}
	for _, r := range m.res.Rejects {
		m.letters = append(m.letters, p.deadLetter(tf, m, r.Row, r.Reason, r.Err, r.Field, now))
	}
	for i := range m.res.Events {
		ref := evRef{m: m, i: i}
		g.keys = append(g.keys, ref.key())
		g.refs = append(g.refs, ref)
	}
}

// lookup marks the group's events the sent log already holds. The epoch is read
// first: an accepted event whose record is acknowledged after it may be missing from
// this lookup, so the core keeps such events as copies to wait behind (see copies).
func (p *pipeline) lookup(g *group) {
	g.epoch = p.rec.appended.Load()
	if len(g.keys) == 0 {
		return
	}
	if cap(g.seen) < len(g.keys) {
		g.seen = make([]bool, len(g.keys))
	}
	g.seen = g.seen[:len(g.keys)]
	p.w.deps.Dedup.Sent(p.name, g.keys, g.seen)
	for i, s := range g.seen {
		if s {
			*g.refs[i].status() = evSeen
		}
	}
}

// safeMessage runs the transform and turns a panic into a malformed message, so one
// poisonous message cannot crash-loop every replica.
func safeMessage(tf *events.Transformer, body []byte, res *events.Result) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the worker could not transform it (internal error; see the worker's log)", events.ErrMalformed)
		}
	}()
	err = tf.Message(body, res)
	if err != nil && !errors.Is(err, events.ErrMalformed) {
		err = fmt.Errorf("%w: %w", events.ErrMalformed, err)
	}
	return err
}
