package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// fetch pulls messages into rawCh until ctx is done. While the destination is paused
// it pulls nothing: stopFetch drains the iterator (what it already buffered still comes
// out, and is handed back), and startFetch opens a new one.
func (p *pipeline) fetch(ctx context.Context) {
	defer close(p.rawCh)
	for {
		if ctx.Err() != nil {
			return
		}
		if p.fetchStopped.Load() {
			select {
			case <-ctx.Done():
				return
			case <-p.resumeCh:
			}
			continue
		}
		it, err := p.cons.Messages(jetstream.PullMaxMessages(p.w.opts.PullBuffer))
		if err != nil {
			p.log.Warn().Err(err).Msg("cannot pull from the consumer; retrying in 1s")
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		p.fetchMu.Lock()
		p.iter = it
		stop := p.fetchStopped.Load() || ctx.Err() != nil
		p.fetchMu.Unlock()
		if stop {
			it.Drain()
		}
		for {
			msg, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					break
				}
				if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
					p.log.Error().Err(err).Msg("the destination's consumer is gone; waiting for it to be recreated")
					it.Stop()
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					break
				}
				// Missed heartbeats and the like: the iterator recovers by itself.
				p.log.Debug().Err(err).Msg("pull")
				continue
			}
			// A slot per message in hand past the pull buffer: a replica holds about
			// pull_buffer + (in_flight + 1) × batch_size messages at most, the share of the
			// consumer's max_ack_pending it is sized for, so it cannot starve the others.
			select {
			case p.slots <- struct{}{}:
			case <-p.quit:
				it.Stop()
				return
			}
			select {
			case p.rawCh <- msg:
			case <-p.quit:
				it.Stop()
				return
			}
		}
		p.fetchMu.Lock()
		p.iter = nil
		p.fetchMu.Unlock()
	}
}

// stopFetch stops pulling (pause or shutdown). Safe from any goroutine.
func (p *pipeline) stopFetch() {
	p.fetchStopped.Store(true)
	p.fetchMu.Lock()
	if p.iter != nil {
		p.iter.Drain()
	}
	p.fetchMu.Unlock()
}

// startFetch resumes pulling after a pause.
func (p *pipeline) startFetch() {
	p.fetchStopped.Store(false)
	select {
	case p.resumeCh <- struct{}{}:
	default:
	}
}

// transform decodes and transforms messages, grouping what is already waiting (up to
// a batch of rows) so the dedup lookup that follows is one call per group.
func (p *pipeline) transform() {
	defer close(p.seenCh)
	tf := p.stageTF
	for raw := range p.rawCh {
		g := groupPool.Get().(*group)
		p.prepare(tf, g, raw)
	fill:
		for g.rows < p.w.opts.BatchSize && len(g.msgs) < p.w.opts.BatchSize {
			select {
			case raw, ok := <-p.rawCh:
				if !ok {
					break fill
				}
				p.prepare(tf, g, raw)
			default:
				break fill
			}
		}
		select {
		case p.seenCh <- g:
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
	}
	g.msgs = append(g.msgs, m)
	if p.handBackAll.Load() {
		m.skipped = true
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
		m.ev = make([]evState, len(m.res.Events))
	}
	for _, r := range m.res.Rejects {
		body, err := tf.DeadLetterRow(m.body, r.Row)
		if err != nil {
			body = []byte(`{}`)
		}
		m.letters = append(m.letters, p.letter(m, body, r.Reason, r.Err, r.Field, r.Row, now))
	}
	for i := range m.res.Events {
		g.ids = append(g.ids, m.res.Events[i].ID)
		g.refs = append(g.refs, evRef{m: m, i: i})
	}
}

func (p *pipeline) letter(m *inMsg, body []byte, reason events.Reason, errText, field string, row int, now time.Time) dlq.Letter {
	return dlq.Letter{
		Destination:   p.name,
		Body:          body,
		Reason:        string(reason),
		Error:         errText,
		Field:         field,
		SourceSubject: m.subject,
		SourceSeq:     m.seq,
		Row:           row,
		Attempts:      m.delivered,
		FailedAt:      now,
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

// lookupDepth is how many groups' dedup calls run at once. One call waits for the
// store's acks of up to a batch of writes (or a batch get): overlapping a few keeps
// the store busy instead of idle between calls. Groups still reach the core in the
// order they were transformed.
const lookupDepth = 3

// lookup asks the dedup store, once per group, which event ids were already sent.
// With a dedup.Claimer it claims them instead, in the same single call: an id this
// replica wins is sent here, one with a receipt is a duplicate, and one another
// replica holds sends its message back unsent.
func (p *pipeline) lookup() {
	defer close(p.groupCh)
	// futures carries each group's result slot in arrival order; the forwarder hands
	// the groups on in that order, whatever order their calls finish in.
	futures := make(chan chan *group, lookupDepth-1)
	fwdDone := make(chan struct{})
	go func() {
		defer close(fwdDone)
		for f := range futures {
			g := <-f
			select {
			case p.groupCh <- g:
			case <-p.quit:
				for range futures { // unblock the lookup loop; results are dropped
				}
				return
			}
		}
	}()
	defer func() { close(futures); <-fwdDone }()
	for g := range p.seenCh {
		// Read in arrival order, before the call: the core relies on both growing
		// from one group to the next.
		g.epoch = p.marksDone.Load()
		g.relDone = p.relDone.Load()
		f := make(chan *group, 1)
		select {
		case futures <- f:
		case <-p.quit:
			return
		}
		if len(g.ids) == 0 || p.handBackAll.Load() {
			f <- g
			continue
		}
		go func() {
			if p.claimer != nil {
				p.claim(g)
			} else {
				p.seen(g)
			}
			f <- g
		}()
	}
}

func (p *pipeline) seen(g *group) {
	seen, err := p.w.deps.Dedup.Seen(p.ioCtx, p.name, g.ids)
	switch {
	case err != nil:
		g.err = err
	case len(seen) != len(g.ids):
		g.err = fmt.Errorf("dedup store answered %d of %d ids", len(seen), len(g.ids))
	default:
		for i, s := range seen {
			if s {
				r := g.refs[i]
				r.m.ev[r.i].seen = true
			}
		}
	}
}

func (p *pipeline) claim(g *group) {
	// g.relDone was read before the call: a release that completes later may have
	// removed a claim this call wins (see pipeline.flushRelease).
	states, err := p.claimer.Claim(p.ioCtx, p.name, p.w.opts.Owner, g.ids, p.lease)
	if err == nil && len(states) != len(g.ids) {
		err = fmt.Errorf("dedup store answered %d of %d claims", len(states), len(g.ids))
	}
	if err != nil {
		g.err = err
		// Some claims may have landed: release them with the messages.
		for _, r := range g.refs {
			r.m.ev[r.i].claimed = true
		}
		return
	}
	for i, st := range states {
		r := g.refs[i]
		es := &r.m.ev[r.i]
		switch st {
		case dedup.Won:
			es.claimed = true
		case dedup.Sent:
			es.seen = true
		default: // Held, or a state this worker does not know: never send it
			es.held = true
		}
	}
}

// send delivers batches until sendCh is closed.
func (p *pipeline) send() {
	for b := range p.sendCh {
		req := p.reqTemplate
		req.Events = b.events
		ctx, cancel := context.WithTimeout(p.sendCtx, p.sendTimeout)
		start := time.Now()
		res, err := p.w.deps.Client.Send(ctx, req)
		cancel()
		b.res.took = time.Since(start)
		b.res.err = err
		b.res.requests, b.res.retries = res.Requests, res.Retries
		if cap(b.res.outcomes) < len(b.events) {
			b.res.outcomes = make([]outcome, len(b.events))
		}
		b.res.outcomes = b.res.outcomes[:len(b.events)]
		for i := range b.res.outcomes {
			o := outcome{}
			if i < len(res.Outcomes) {
				r := res.Outcomes[i]
				o = outcome{accepted: r.Status == tiktokclient.Accepted, rejected: r.Status == tiktokclient.Rejected, code: r.Code, message: r.Message, requestID: r.RequestID}
			}
			b.res.outcomes[i] = o
		}
		p.resultCh <- b
	}
}

// runIO writes one job's dedup marks and dead letters, concurrently, and reports back.
func (p *pipeline) runIO(j *ioJob) {
	done := make(chan struct{})
	if len(j.receipts) > 0 {
		go func() {
			j.markErr = p.w.deps.Dedup.Mark(p.ioCtx, p.name, j.receipts)
			close(done)
		}()
	} else {
		close(done)
	}
	if len(j.letters) > 0 {
		j.dlqErr = p.w.deps.DLQ.Publish(p.ioCtx, j.letters)
	}
	<-done
	select {
	case p.ioDoneCh <- j:
	case <-p.quit:
	}
}
