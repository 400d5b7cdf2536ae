package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// pipeline is one destination's consume loop. Its core goroutine owns every message,
// batch and leader; the stages around it (fetch → transform → lookup, the senders,
// the IO jobs) only hand values to it through channels.
type pipeline struct {
	w     *Worker
	dest  Destination
	name  string
	log   zerolog.Logger
	met   *metrics.Destination
	stats counters

	reqTemplate      tiktokclient.Request
	window           time.Duration
	stageTF, coreTF  *events.Transformer
	sendTimeout      time.Duration
	cons             jetstream.Consumer
	sendCtx, ioCtx   context.Context
	rawCh            chan jetstream.Msg
	seenCh, groupCh  chan *group
	sendCh, resultCh chan *batch
	ioDoneCh         chan *ioJob
	probeCh          chan probeResult
	resumeCh         chan struct{}
	quit             chan struct{}
	slots            chan struct{} // one per message past the pull buffer (bounds what a replica holds)

	// shared with the stages
	handBackAll  atomic.Bool   // paused or draining: stages pass messages through untouched
	fetchStopped atomic.Bool   // the puller must not pull
	marksDone    atomic.Uint64 // dedup mark jobs acknowledged so far (the purge epoch)
	fetchMu      sync.Mutex
	iter         jetstream.MessagesContext
	stateMu      sync.Mutex
	reason       string // why the destination is paused; "" when it is not

	// Claims (when the dedup store is a dedup.Claimer). Releases run one at a time in
	// the releaser goroutine, in the order the core issued them; relDone is the
	// generation of the last one completed.
	claimer       dedup.Claimer
	lease         time.Duration
	relDone       atomic.Uint64
	relMu         sync.Mutex
	relPending    []string // ids handed to the releaser, not taken yet
	relPendingGen uint64
	relNotify     chan struct{}
	relWake       chan struct{} // closed (and replaced) each time relDone moves; under relMu

	// owned by the core goroutine
	live        liveList
	leaders     map[string]*leader
	purgeQ      []purgeEntry
	purgeHead   int
	cur         *batch
	ready       []*batch
	freeBatches []*batch
	freeJobs    []*ioJob
	job         *ioJob
	inflight    int
	ioJobs      int
	tally       tally
	lastPending uint64
	batchTimer  *time.Timer
	timerArmed  bool
	idleTimer   *time.Timer // cuts a partial batch when messages stop coming
	idleAfter   time.Duration
	lastGroup   time.Time
	draining    bool
	lastWarn    time.Time
	relIDs      []string          // ids of unsent events whose claims go this turn
	relGen      uint64            // releases issued
	relLast     map[string]uint64 // id → generation of its last release, until every later Claim call follows it
	relQ        []relEntry
	relHead     int

	paused     bool
	pauseKind  handBack
	probing    bool
	probe      probeEvent
	probeHeld  int  // probes in a row that found the probe event held by another owner
	probeKept  bool // a release of the probe event's id was held back while probing
	bo         *backoff.ExponentialBackOff
	nakDelay   time.Duration
	probeTimer *time.Timer
}

type relEntry struct {
	id  string
	gen uint64
}

type purgeEntry struct {
	l     *leader
	epoch uint64
}

type probeEvent struct {
	id   string
	time int64 // event_time, so a probe never sends an event that left its window
	json []byte
}

type probeResult struct {
	res     tiktokclient.Result
	err     error
	markErr error
	id      string // the probe event's id
	claimed bool   // its id was claimed for the probe: release it unless accepted
	held    bool   // another owner holds the event's id: nothing was sent, probe it again
	check   bool   // a connection check, not an event, was the probe
	none    bool   // nothing to probe with: resume, the next batch is the probe
	store   bool   // err is the dedup store's (the claim failed), not TikTok's
}

func newPipeline(w *Worker, d Destination) (*pipeline, error) {
	cfg := d.Events
	if cfg.Now == nil {
		cfg.Now = w.deps.Clock
	}
	stageTF, err := events.NewTransformer(cfg)
	if err != nil {
		return nil, err
	}
	coreTF, err := events.NewTransformer(cfg)
	if err != nil {
		return nil, err
	}
	tec := d.TestEventCode
	if tec == "" {
		tec = cfg.TestEventCode
	}
	o := w.opts
	p := &pipeline{
		w:           w,
		dest:        d,
		name:        d.Name,
		log:         w.deps.Log.With().Str("destination", d.Name).Logger(),
		met:         w.deps.Metrics.Destination(d.Name),
		reqTemplate: tiktokclient.Request{EventSource: cfg.EventSource, EventSourceID: cfg.EventSourceID, TestEventCode: tec},
		stageTF:     stageTF,
		coreTF:      coreTF,
		sendTimeout: o.MaxElapsed + o.MaxElapsed/4 + 30*time.Second,
		rawCh:       make(chan jetstream.Msg, 256),
		slots:       make(chan struct{}, (o.InFlight+1)*o.BatchSize),
		seenCh:      make(chan *group, 2),
		groupCh:     make(chan *group, 2),
		sendCh:      make(chan *batch, o.InFlight),
		resultCh:    make(chan *batch, o.InFlight),
		ioDoneCh:    make(chan *ioJob, 16),
		probeCh:     make(chan probeResult, 1),
		resumeCh:    make(chan struct{}, 1),
		quit:        make(chan struct{}),
		leaders:     make(map[string]*leader, 2*o.BatchSize),
		job:         new(ioJob),
		batchTimer:  stoppedTimer(),
		idleTimer:   stoppedTimer(),
		idleAfter:   max(min(o.MaxWait/10, 25*time.Millisecond), time.Millisecond),
		probeTimer:  stoppedTimer(),
		relNotify:   make(chan struct{}, 1),
		relWake:     make(chan struct{}),
		relLast:     map[string]uint64{},
	}
	if c, ok := w.deps.Dedup.(dedup.Claimer); ok {
		p.claimer = c
	}
	// A claim must outlive the whole delivery of its event, or another replica could
	// take the id and send a copy while the original is still on its way: the event
	// waits for its batch (max_wait) and for a sender, then its Send (bounded by
	// sendTimeout, max_elapsed and a margin), then its receipt is written. ack_wait
	// and a minute on top cover the wait for a sender behind requests that retry and
	// the receipt's write. A replica that crashes holds its ids that long: the copies
	// of its events in other replicas wait at most one lease (the crash window).
	p.lease = p.sendTimeout + o.AckWait + o.MaxWait + time.Minute
	p.window = cfg.Window
	if p.window <= 0 {
		p.window = events.DefaultWindow
	}
	p.bo = backoff.NewExponentialBackOff()
	p.bo.InitialInterval = o.ProbeMin
	p.bo.MaxInterval = o.ProbeMax
	p.bo.MaxElapsedTime = 0
	p.bo.Multiplier = 2
	p.bo.RandomizationFactor = 0.2
	return p, nil
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (p *pipeline) pausedReason() string {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.reason
}

func (p *pipeline) setReason(r string) {
	p.stateMu.Lock()
	p.reason = r
	p.stateMu.Unlock()
}

// run starts the stages, runs the core until the drain is over, and stops the stages.
func (p *pipeline) run(ctx context.Context) error {
	cons, err := p.consumer(ctx)
	if err != nil {
		return nil // cancelled while waiting for the consumer: nothing is in hand
	}
	p.cons = cons
	if !p.checkAtStart(ctx) {
		return nil // cancelled during the check: nothing is in hand
	}
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(ctx))
	relCtx, cancelRel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	defer cancelIO()
	defer cancelRel()
	p.sendCtx, p.ioCtx = sendCtx, ioCtx

	var wg sync.WaitGroup
	relStop := make(chan struct{})
	if p.claimer != nil {
		wg.Go(func() { p.releaser(relCtx, relStop) })
	}
	wg.Go(func() { p.fetch(ctx) })
	wg.Go(p.transform)
	wg.Go(p.lookup)
	for range p.w.opts.InFlight {
		wg.Go(p.send)
	}
	wg.Go(func() { p.refreshPending(ctx) })

	end := p.core(ctx, cancelSend, cancelIO)

	close(p.sendCh)
	close(p.quit)
	close(relStop) // the releaser releases what the core left, then returns
	cancelSend()
	cancelIO()
	p.stopFetch()
	// Acks and NAKs are buffered by the connection: push them out before returning.
	left := time.Until(end)
	if left < 50*time.Millisecond {
		left = 50 * time.Millisecond
	}
	if nc := p.w.deps.JS.Conn(); nc != nil {
		_ = nc.FlushTimeout(left)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(end)):
		p.log.Warn().Msg("drain timeout: some stages were still busy; their messages are redelivered after ack_wait")
	}
	return nil
}

// consumer looks the destination's consumer up, retrying with backoff while it is
// missing or NATS does not answer (readiness says so), until ctx is done.
func (p *pipeline) consumer(ctx context.Context) (jetstream.Consumer, error) {
	n := p.w.deps.Names
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 10*time.Second, 0
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := p.w.deps.JS.Consumer(cctx, n.RowsStream, n.ConsumerName(p.name))
		cancel()
		if err == nil {
			if logged {
				p.setReason("")
				p.log.Info().Msgf("destination %s: consumer %s found; starting", p.name, n.ConsumerName(p.name))
			}
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		text := fmt.Sprintf("destination %s waits for its consumer %s on stream %s: %v "+
			"(the topology is created at start-up; check NATS)", p.name, n.ConsumerName(p.name), n.RowsStream, err)
		if !logged {
			logged = true
			p.setReason(text)
			p.log.Error().Msg(text)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

func (p *pipeline) refreshPending(ctx context.Context) {
	if p.met == nil {
		return
	}
	t := time.NewTicker(p.w.opts.PendingInterval)
	defer t.Stop()
	for {
		if info, err := p.cons.Info(ctx); err == nil {
			p.met.Pending(info.NumPending, uint64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// core is the only goroutine that touches messages, batches and leaders. It returns
// the deadline by which run must return.
func (p *pipeline) core(ctx context.Context, cancelSend, cancelIO context.CancelFunc) time.Time {
	o := p.w.opts
	keepEvery := o.AckWait / 3
	if keepEvery < 10*time.Millisecond {
		keepEvery = 10 * time.Millisecond
	}
	keep := time.NewTicker(keepEvery)
	defer keep.Stop()
	drainStart := ctx.Done()
	var sendCut, ioCut, hardStop <-chan time.Time
	end := time.Now().Add(100 * 365 * 24 * time.Hour)
	groupIn := p.groupCh
	for {
		var in chan *group
		if groupIn != nil && len(p.ready) < 2 {
			in = groupIn
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
		case <-p.batchTimer.C:
			p.timerArmed = false
			p.cut()
		case <-p.idleTimer.C:
			// Nothing arrived for 25 ms (at most max_wait/10) with a sender free: the consumer's
			// max_ack_pending (shared by the replicas) may hold the rest back until
			// this batch is acked, so waiting out max_wait would only stall.
			if p.cur != nil && p.inflight < o.InFlight && time.Since(p.lastGroup) >= p.idleAfter {
				p.cut()
			}
		case <-p.probeTimer.C:
			p.startProbe()
		case <-keep.C:
			p.keepAlive()
		case <-drainStart:
			drainStart = nil
			end = time.Now().Add(o.DrainTimeout)
			sendCut = time.After(o.DrainTimeout * 6 / 10)
			ioCut = time.After(o.DrainTimeout * 8 / 10)
			hardStop = time.After(o.DrainTimeout * 9 / 10)
			p.startDrain()
		case <-sendCut:
			sendCut = nil
			cancelSend()
		case <-ioCut:
			ioCut = nil
			cancelIO()
		case <-hardStop:
			p.abandon()
			return end
		}
		p.endTurn()
		if p.draining && groupIn == nil && p.inflight == 0 && p.ioJobs == 0 && p.live.n == 0 && !p.probing {
			return end
		}
	}
}

// endTurn does what one turn of the core loop left to do: cut a batch when nothing
// more is coming, hand batches to idle senders, start the turn's IO job, publish the
// turn's counters.
func (p *pipeline) endTurn() {
	o := p.w.opts
	if p.cur != nil && len(p.ready) == 0 && p.inflight < o.InFlight && p.lastPending == 0 &&
		len(p.groupCh) == 0 && len(p.seenCh) == 0 && len(p.rawCh) == 0 {
		// The consumer reported nothing pending and nothing is on its way: waiting for
		// max_wait would only add latency.
		p.cut()
	}
	for p.inflight < o.InFlight && len(p.ready) > 0 {
		b := p.ready[0]
		copy(p.ready, p.ready[1:])
		p.ready[len(p.ready)-1] = nil
		p.ready = p.ready[:len(p.ready)-1]
		p.stats.batches.Add(1)
		if len(b.refs) == o.BatchSize {
			p.stats.full.Add(1)
		}
		p.inflight++
		p.sendCh <- b
	}
	if !p.job.empty() {
		j := p.job
		p.job = p.newJob()
		p.ioJobs++
		go p.runIO(j)
	}
	p.flushRelease()
	if !p.tally.empty() {
		p.stats.publish(&p.tally)
	}
}

// admit takes a group from the lookup stage: each message's events go to the batcher
// unless they are already sent or wait behind an event with the same id.
func (p *pipeline) admit(g *group) {
	p.purge(g.epoch)
	now := time.Now()
	p.lastGroup = now
	defer func() {
		if p.cur != nil {
			p.idleTimer.Reset(p.idleAfter)
		}
	}()
	if g.err != nil && !p.paused && !p.draining {
		p.warn(g.err, "dedup lookup failed; handing the messages back")
	}
	for _, m := range g.msgs {
		m.touched = now
		p.live.push(m)
		p.lastPending = m.pending
		switch {
		case p.paused:
			m.raise(hbPaused)
		case m.skipped || p.draining:
			m.raise(hbRelease)
		case g.err != nil:
			m.raise(hbStore)
		default:
			p.admitEvents(m, g.relDone)
		}
		p.check(m)
	}
	if p.claimer != nil {
		p.pruneReleased(g.relDone)
	}
	g.release()
}

func (p *pipeline) admitEvents(m *inMsg, relDone uint64) {
	if p.claimer != nil && p.heldElsewhere(m, relDone) {
		// Another replica may be sending one of its events: send none of them now,
		// hand the message back, and look again after a short delay.
		m.raise(hbHeld)
		return
	}
	m.dup += len(m.res.Duplicates)
	for i := range m.res.Events {
		ev := &m.res.Events[i]
		st := &m.ev[i]
		if st.seen {
			st.status = evDup
			m.dup += len(ev.Rows)
			continue
		}
		ref := evRef{m: m, i: i}
		if l, ok := p.leaders[ev.ID]; ok {
			if l.accepted {
				st.status = evDup
				m.dup += len(ev.Rows)
				continue
			}
			// Another message's event with this id is pending: TikTok must never see
			// the id twice in flight, so this one waits for that one's outcome.
			st.status = evFollower
			m.open++
			l.followers = append(l.followers, ref)
			continue
		}
		l := &leader{key: cloneString(ev.ID), ref: ref}
		p.leaders[l.key] = l
		st.status = evQueued
		m.open++
		p.enqueue(ref)
	}
}

func cloneString(s string) string { return string([]byte(s)) }

// heldElsewhere reports whether an event of m must not be sent by this replica now:
// another replica holds its id, or this replica released the id after the Claim
// call that won it had started, so the release may have deleted that claim. An id
// pending here (a leader) keeps its claim: releases skip it.
func (p *pipeline) heldElsewhere(m *inMsg, relDone uint64) bool {
	for i := range m.ev {
		st := &m.ev[i]
		if st.held {
			return true
		}
		if !st.claimed || st.seen || len(p.relLast) == 0 {
			continue
		}
		id := m.res.Events[i].ID
		if gen, ok := p.relLast[id]; ok && gen > relDone && p.leaders[id] == nil {
			return true
		}
	}
	return false
}

// releaseUnsent queues the release of m's claims on events it did not send: m goes
// back to the stream, or its unsent events were dead-lettered. Events still queued
// or in flight (a drain that ran out of time) keep their claims until the lease
// lapses, since TikTok may yet accept them.
func (p *pipeline) releaseUnsent(m *inMsg) {
	if p.claimer == nil {
		return
	}
	for i := range m.ev {
		st := &m.ev[i]
		if !st.claimed {
			continue
		}
		switch st.status {
		case evNew, evFollower, evRejected, evUnsettled:
			p.relIDs = append(p.relIDs, cloneString(m.res.Events[i].ID))
		}
	}
}

// flushRelease hands this turn's releases to the releaser, one Release call. An id
// pending here again (a leader: another message's event, claimed anew) keeps its
// claim. Each id remembers the release's generation, so that a group whose Claim
// call started before the release completed does not send it (heldElsewhere).
func (p *pipeline) flushRelease() {
	if len(p.relIDs) == 0 {
		return
	}
	ids := p.relIDs[:0]
	for _, id := range p.relIDs {
		switch {
		case p.leaders[id] != nil:
		case p.probing && p.probe.json != nil && id == p.probe.id:
			// The probe claims (or holds) this id right now: a release would race its
			// Claim and could delete the claim it just won. probed releases it.
			p.probeKept = true
		default:
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		p.relGen++
		for _, id := range ids {
			p.relLast[id] = p.relGen
			p.relQ = append(p.relQ, relEntry{id: id, gen: p.relGen})
		}
		p.relMu.Lock()
		p.relPending = append(p.relPending, ids...)
		p.relPendingGen = p.relGen
		p.relMu.Unlock()
		select {
		case p.relNotify <- struct{}{}:
		default:
		}
	}
	clear(p.relIDs)
	p.relIDs = p.relIDs[:0]
}

// pruneReleased forgets the releases that completed before the Claim call of the
// group just admitted started: groups are admitted in the order they were claimed,
// so no later group can have been overtaken by them.
func (p *pipeline) pruneReleased(done uint64) {
	for p.relHead < len(p.relQ) && p.relQ[p.relHead].gen <= done {
		e := p.relQ[p.relHead]
		if p.relLast[e.id] == e.gen {
			delete(p.relLast, e.id)
		}
		p.relQ[p.relHead] = relEntry{}
		p.relHead++
	}
	if p.relHead == len(p.relQ) {
		p.relQ, p.relHead = p.relQ[:0], 0
	}
}

// releaser runs the releases the core issues, one Release call at a time, until
// stop is closed and nothing is left. A failed release is logged once per run of
// failures and never retried: the ids wait until their lease lapses.
func (p *pipeline) releaser(ctx context.Context, stop <-chan struct{}) {
	failing := false
	for {
		final := false
		select {
		case <-p.relNotify:
		case <-stop:
			final = true
		}
		p.relMu.Lock()
		ids, gen := p.relPending, p.relPendingGen
		p.relPending = nil
		p.relMu.Unlock()
		if len(ids) > 0 {
			err := p.claimer.Release(ctx, p.name, p.w.opts.Owner, ids)
			switch {
			case err != nil && !failing:
				failing = true
				p.log.Warn().Err(err).Int("ids", len(ids)).Dur("lease", p.lease).
					Msg("could not release dedup claims of handed-back rows; other replicas send them when the lease lapses")
			case err == nil:
				failing = false
			}
			p.relMu.Lock()
			p.relDone.Store(gen)
			close(p.relWake)
			p.relWake = make(chan struct{})
			p.relMu.Unlock()
		}
		if final {
			return
		}
	}
}

func (p *pipeline) enqueue(ref evRef) {
	if p.cur == nil {
		p.cur = p.newBatch()
	}
	p.cur.refs = append(p.cur.refs, ref)
	p.cur.events = append(p.cur.events, json.RawMessage(ref.event().JSON))
	if !p.timerArmed {
		p.batchTimer.Reset(p.w.opts.MaxWait)
		p.timerArmed = true
	}
	if len(p.cur.refs) >= p.w.opts.BatchSize {
		p.cut()
	}
}

// cut closes the batch being filled.
func (p *pipeline) cut() {
	if p.cur != nil && len(p.cur.refs) > 0 {
		p.ready = append(p.ready, p.cur)
		p.cur = nil
	}
	if p.timerArmed {
		p.batchTimer.Stop()
		p.timerArmed = false
	}
}

func (p *pipeline) newBatch() *batch {
	if n := len(p.freeBatches); n > 0 {
		b := p.freeBatches[n-1]
		p.freeBatches = p.freeBatches[:n-1]
		return b
	}
	return &batch{
		refs:   make([]evRef, 0, p.w.opts.BatchSize),
		events: make([]json.RawMessage, 0, p.w.opts.BatchSize),
	}
}

func (p *pipeline) freeBatch(b *batch) {
	clear(b.refs)
	clear(b.events)
	b.refs, b.events = b.refs[:0], b.events[:0]
	b.res = resultOrErr{outcomes: b.res.outcomes[:0]}
	p.freeBatches = append(p.freeBatches, b)
}

func (p *pipeline) newJob() *ioJob {
	if n := len(p.freeJobs); n > 0 {
		j := p.freeJobs[n-1]
		p.freeJobs = p.freeJobs[:n-1]
		return j
	}
	return new(ioJob)
}

func (p *pipeline) freeJob(j *ioJob) {
	clear(j.receipts)
	clear(j.leaders)
	clear(j.letters)
	clear(j.msgs)
	*j = ioJob{receipts: j.receipts[:0], leaders: j.leaders[:0], letters: j.letters[:0], msgs: j.msgs[:0]}
	p.freeJobs = append(p.freeJobs, j)
}

// settle applies one request's outcomes to its events.
func (p *pipeline) settle(b *batch) {
	p.inflight--
	r := &b.res
	p.stats.requests.Add(int64(r.requests))
	p.stats.retries.Add(int64(r.retries))
	p.met.Request(len(b.refs), r.took, r.requests, r.retries)
	kind := hbNone
	errText := ""
	if r.err != nil {
		kind = p.classify(r.err)
		errText = r.err.Error()
	}
	now := p.w.deps.Clock()
	var probe probeEvent
	accepted := 0
	for k, ref := range b.refs {
		o := &r.outcomes[k]
		m, st, ev := ref.m, ref.state(), ref.event()
		l := p.leaders[ev.ID]
		if l != nil && l.ref != ref {
			l = nil // cannot happen: a queued event is always its id's leader
		}
		switch {
		case o.accepted:
			st.status = evSent
			m.sent += len(ev.Rows)
			accepted++
			key := ev.ID
			if l != nil {
				key = l.key
				l.accepted = true
				l.ref = evRef{}
				p.job.leaders = append(p.job.leaders, l)
				for _, f := range l.followers {
					f.state().status = evDup
					f.m.dup += len(f.event().Rows)
					f.m.open--
					p.check(f.m)
				}
				clear(l.followers)
				l.followers = l.followers[:0]
			}
			p.job.receipts = append(p.job.receipts, dedup.Receipt{EventID: key, AcceptedAt: now, RequestID: o.requestID})
			p.job.join(m)
		case o.rejected:
			st.status = evRejected
			for _, row := range ev.Rows {
				body, err := p.coreTF.DeadLetterRow(m.body, row)
				if err != nil {
					body = []byte(`{}`)
				}
				lt := p.letter(m, body, events.ReasonRejected, rejectText(o), "", row, now)
				lt.TikTokCode, lt.TikTokReqID = o.code, o.requestID
				m.letters = append(m.letters, lt)
			}
			p.promote(l)
		default:
			st.status = evUnsettled
			if kind == hbNone {
				// An Unsettled outcome without an error breaks the client's contract;
				// treat it as an outage rather than lose the row.
				kind, errText = hbOutage, "TikTok's answer left the event unsettled"
			}
			m.raise(kind)
			m.lastError = errText
			if probe.json == nil {
				probe = probeEvent{id: cloneString(ev.ID), time: ev.Time, json: append([]byte(nil), ev.JSON...)}
			}
			p.dropLeader(l, kind)
		}
		m.open--
		p.check(m)
	}
	if accepted > 0 {
		p.stats.sentEvents.Add(int64(accepted))
		p.met.EventsSent(accepted)
	}
	err := r.err
	p.freeBatch(b) // r is b.res: read nothing from it after this
	// tiktok_responses_total is not counted here: the service's client observer
	// counts every HTTP answer, retries and bisection included (a Send's outcomes
	// would hide both).
	switch kind {
	case hbCredential, hbOutage:
		p.pause(kind, err, probe)
	}
}

func rejectText(o *outcome) string {
	if o.message == "" {
		return fmt.Sprintf("TikTok refused the event (code %d)", o.code)
	}
	return fmt.Sprintf("TikTok refused the event (code %d): %s", o.code, o.message)
}

func (p *pipeline) classify(err error) handBack {
	var ce *tiktokclient.CredentialError
	switch {
	case errors.As(err, &ce):
		return hbCredential
	case errors.Is(err, tiktokclient.ErrGaveUp):
		return hbOutage
	case p.draining && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return hbRelease
	}
	return hbOutage
}

// promote hands a rejected leader's id to its first follower, which is sent in turn
// (it may carry different content under the same id).
func (p *pipeline) promote(l *leader) {
	if l == nil {
		return
	}
	if len(l.followers) == 0 {
		delete(p.leaders, l.key)
		return
	}
	f := l.followers[0]
	copy(l.followers, l.followers[1:])
	l.followers[len(l.followers)-1] = evRef{}
	l.followers = l.followers[:len(l.followers)-1]
	l.ref = f
	if p.paused || p.draining {
		hb := hbPaused
		if p.draining {
			hb = hbRelease
		}
		f.state().status = evUnsettled
		f.m.raise(hb)
		p.dropLeader(l, hb)
		f.m.open--
		p.check(f.m)
		return
	}
	f.state().status = evQueued
	p.enqueue(f)
}

// dropLeader forgets a leader whose event is unsettled; its followers are handed back
// with it.
func (p *pipeline) dropLeader(l *leader, kind handBack) {
	if l == nil {
		return
	}
	if p.leaders[l.key] == l {
		delete(p.leaders, l.key)
	}
	hb := hbPaused
	if kind == hbRelease {
		hb = hbRelease
	}
	for _, f := range l.followers {
		f.state().status = evUnsettled
		f.m.raise(hb)
		f.m.open--
		p.check(f.m)
	}
	clear(l.followers)
	l.followers = nil
}

// purge forgets accepted leaders whose markers every later Seen call will see.
func (p *pipeline) purge(epoch uint64) {
	for p.purgeHead < len(p.purgeQ) && p.purgeQ[p.purgeHead].epoch <= epoch {
		e := p.purgeQ[p.purgeHead]
		if p.leaders[e.l.key] == e.l {
			delete(p.leaders, e.l.key)
		}
		p.purgeQ[p.purgeHead] = purgeEntry{}
		p.purgeHead++
	}
	if p.purgeHead == len(p.purgeQ) {
		p.purgeQ, p.purgeHead = p.purgeQ[:0], 0
	} else if p.purgeHead > 1024 && p.purgeHead > len(p.purgeQ)/2 {
		n := copy(p.purgeQ, p.purgeQ[p.purgeHead:])
		clear(p.purgeQ[n:])
		p.purgeQ, p.purgeHead = p.purgeQ[:n], 0
	}
}

func (p *pipeline) ioDone(j *ioJob) {
	p.ioJobs--
	if len(j.receipts) > 0 {
		if j.markErr == nil {
			e := p.marksDone.Add(1)
			for _, l := range j.leaders {
				p.purgeQ = append(p.purgeQ, purgeEntry{l: l, epoch: e})
			}
		} else {
			p.warn(j.markErr, "dedup store did not record accepted events; handing their messages back (TikTok drops the repeats)")
			for _, l := range j.leaders {
				if p.leaders[l.key] == l {
					delete(p.leaders, l.key)
				}
			}
		}
	}
	if j.dlqErr != nil {
		p.warn(j.dlqErr, "dead-letter publish failed; handing the messages back")
	}
	failed := j.markErr != nil || j.dlqErr != nil
	for _, m := range j.msgs {
		m.io--
		m.job = nil
		if failed {
			m.raise(hbStore)
		}
		p.check(m)
	}
	p.freeJob(j)
}

// check acks or hands back a message once nothing about it is outstanding.
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
		p.job.letters = append(p.job.letters, m.letters...)
		p.job.join(m)
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
		if m.ev[i].status != evUnsettled {
			continue
		}
		for _, row := range m.res.Events[i].Rows {
			body, err := p.coreTF.DeadLetterRow(m.body, row)
			if err != nil {
				body = []byte(`{}`)
			}
			m.letters = append(m.letters, p.letter(m, body, events.ReasonRetriesExhausted, text, "", row, now))
		}
	}
	m.hb = hbNone
}

func (p *pipeline) nak(m *inMsg) {
	var delay time.Duration
	switch m.hb {
	case hbOutage, hbPaused, hbCredential:
		delay = p.w.opts.ProbeMin
		if p.paused {
			delay = p.nakDelay
		}
	case hbStore:
		delay = p.w.opts.ProbeMin
	case hbHeld:
		// The other replica's request usually settles within a batch's time.
		delay = max(time.Second, p.w.opts.MaxWait)
	}
	p.releaseUnsent(m)
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

func (p *pipeline) ack(m *inMsg) {
	if err := m.msg.Ack(); err != nil {
		p.log.Debug().Err(err).Msg("ack")
	}
	p.releaseUnsent(m)
	t := &p.tally
	t.received += int64(m.rows)
	t.sent += int64(m.sent)
	t.duplicates += int64(m.dup)
	t.messages++
	var byReason [numReasons]int
	for i := range m.letters {
		byReason[reasonIndex[m.letters[i].Reason]]++
	}
	for i, n := range byReason {
		t.deadLettered[i] += int64(n)
		if n > 0 {
			p.met.DeadLettered(dlq.Reasons()[i], n)
		}
	}
	p.met.Settled(m.rows, m.sent, m.dup)
	if m.rows != m.sent+m.dup+len(m.letters) {
		p.log.Error().Uint64("seq", m.seq).Int("rows", m.rows).Int("sent", m.sent).Int("duplicates", m.dup).
			Int("dead_lettered", len(m.letters)).Msg("accounting mismatch: a row of this message is counted twice or not at all")
	}
	p.finish(m, true)
}

func (p *pipeline) finish(m *inMsg, reuse bool) {
	m.done = true
	p.live.remove(m)
	<-p.slots
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

// handBackQueued takes every event out of the batcher: they will not be sent in this
// delivery.
func (p *pipeline) handBackQueued(kind handBack) {
	bs := p.ready
	if p.cur != nil {
		bs = append(bs, p.cur)
		p.cur = nil
	}
	p.ready = nil
	for _, b := range bs {
		for _, ref := range b.refs {
			ref.state().status = evUnsettled
			ref.m.raise(kind)
			if l := p.leaders[ref.event().ID]; l != nil && l.ref == ref {
				p.dropLeader(l, kind)
			}
			ref.m.open--
			p.check(ref.m)
		}
		p.freeBatch(b)
	}
	if p.timerArmed {
		p.batchTimer.Stop()
		p.timerArmed = false
	}
}

// pause stops the destination after a credential refusal or an outage: nothing more
// is pulled, everything not in flight goes back to the stream, and a probe retries
// with backoff.
func (p *pipeline) pause(kind handBack, err error, probe probeEvent) {
	if p.draining {
		return
	}
	text := p.pauseText(kind, err)
	if p.probe.json == nil {
		p.probe = probe
	}
	if p.paused {
		if kind != p.pauseKind {
			p.pauseKind = kind
			p.setReason(text)
			p.log.Error().Msg(text)
		}
		return
	}
	p.paused = true
	p.pauseKind = kind
	p.probeHeld = 0
	p.handBackAll.Store(true)
	p.stopFetch()
	p.bo.Reset()
	p.nakDelay = p.bo.NextBackOff()
	p.setReason(text)
	p.met.Paused(true)
	p.log.Error().Dur("probe_in", p.nakDelay).Msg(text)
	p.handBackQueued(hbPaused)
	p.probeTimer.Reset(p.nakDelay)
}

func (p *pipeline) pauseText(kind handBack, err error) string {
	// The client's errors say what happened and which setting to check (the token,
	// api_base, advertiser_id / event_source_id, or an outage with its attempts).
	if kind == hbCredential {
		return fmt.Sprintf("destination %s paused: %v; rows stay queued and the destination is probed until TikTok accepts it", p.name, err)
	}
	return fmt.Sprintf("destination %s paused: %v; rows stay queued and are retried when TikTok answers again", p.name, err)
}

// startProbe re-sends one event of the batch that paused the destination, or, with no
// event to probe with, runs the connection check (Deps.Checker). The probe holds no
// message: if TikTok takes the event, its receipt is written before the destination
// resumes, so the redelivered row counts as a duplicate of it. With a dedup.Claimer
// the probe claims the event's id first, so that it never races a copy that another
// replica is sending.
func (p *pipeline) startProbe() {
	if !p.paused || p.probing || p.draining {
		return
	}
	if p.probe.json != nil && p.w.deps.Clock().Unix()-p.probe.time > int64(p.window/time.Second) {
		// The event waited out its window: sending it now would deliver a row the
		// transform dead-letters as outside_window on redelivery.
		p.probe = probeEvent{}
	}
	if p.probe.json == nil && p.w.deps.Checker == nil {
		// Nothing to probe with: resume, and let the next batch be the probe.
		p.resume()
		return
	}
	p.probing = true
	pr := p.probe
	// A hand-back (or the last probe) may have issued a release of this id that has
	// not completed: the probe's Claim must follow it, or the two race on the same
	// key and the Claim finds it "held" (or the release deletes the claim just won).
	after := p.relLast[pr.id]
	go func() {
		r := p.runProbe(pr, after)
		select {
		case p.probeCh <- r:
		case <-p.quit:
		}
	}()
}

// runProbe is the probe's request, off the core goroutine.
func (p *pipeline) runProbe(pr probeEvent, after uint64) (r probeResult) {
	ctx, cancel := context.WithTimeout(p.sendCtx, p.sendTimeout)
	defer cancel()
	r.id = pr.id
	send := pr.json != nil
	if send && p.claimer != nil {
		if err := p.waitReleased(ctx, after); err != nil {
			r.err, r.store = fmt.Errorf("dedup release before the probe's claim: %w", err), true
			return r
		}
		states, err := p.claimer.Claim(p.ioCtx, p.name, p.w.opts.Owner, []string{pr.id}, p.lease)
		switch {
		case err != nil:
			r.err, r.store = fmt.Errorf("dedup claim of the probe event: %w", err), true
			return r
		case len(states) == 1 && states[0] == dedup.Won:
			r.claimed = true
		case len(states) == 1 && states[0] == dedup.Held && p.w.deps.Checker == nil:
			// Another replica may be sending it; with no connection check to probe with
			// instead, probe with it again later rather than resume blind.
			r.held = true
			return r
		default:
			// Sent or held elsewhere: another replica delivers it; probe without it.
			send = false
		}
	}
	switch {
	case send:
		req := p.reqTemplate
		req.Events = []json.RawMessage{pr.json}
		r.res, r.err = p.w.deps.Client.Send(ctx, req)
		if r.err == nil && len(r.res.Outcomes) == 1 && r.res.Outcomes[0].Status == tiktokclient.Accepted {
			r.markErr = p.w.deps.Dedup.Mark(p.ioCtx, p.name, []dedup.Receipt{{
				EventID: pr.id, AcceptedAt: p.w.deps.Clock(), RequestID: r.res.Outcomes[0].RequestID}})
		}
	case p.w.deps.Checker != nil:
		r.check = true
		r.err = p.w.deps.Checker.Check(ctx, p.name)
	default:
		r.none = true
	}
	return r
}

// waitReleased waits until the releaser has completed release generation gen.
func (p *pipeline) waitReleased(ctx context.Context, gen uint64) error {
	for {
		p.relMu.Lock()
		done, wake := p.relDone.Load(), p.relWake
		p.relMu.Unlock()
		if done >= gen {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maxHeldProbes is how many probes in a row may find the probe event held by
// another owner before the destination resumes without a probe: that owner is
// sending it, or crashed holding it until its lease lapses.
const maxHeldProbes = 3

func (p *pipeline) probed(r probeResult) {
	p.probing = false
	p.stats.requests.Add(int64(r.res.Requests))
	p.stats.retries.Add(int64(r.res.Retries))
	accepted := r.err == nil && len(r.res.Outcomes) == 1 && r.res.Outcomes[0].Status == tiktokclient.Accepted
	if accepted {
		p.stats.sentEvents.Add(1)
		p.met.EventsSent(1)
		if r.markErr != nil {
			p.warn(r.markErr, "dedup store did not record the probe event; TikTok drops its repeat")
		}
	} else if r.claimed || p.probeKept {
		p.relIDs = append(p.relIDs, r.id)
	}
	p.probeKept = false
	if p.draining || !p.paused {
		return
	}
	if r.held {
		p.probeHeld++
		if p.probeHeld < maxHeldProbes {
			p.nakDelay = p.bo.NextBackOff()
			p.probeTimer.Reset(p.nakDelay)
			return
		}
		r.none = true
	}
	p.probeHeld = 0
	if r.none || r.err == nil {
		p.resume()
		return
	}
	p.nakDelay = p.bo.NextBackOff()
	p.probeTimer.Reset(p.nakDelay)
	if r.store {
		p.warn(r.err, "dedup store failed while probing a paused destination; probing again")
		return
	}
	kind := p.classify(r.err)
	if r.check {
		kind = checkKind(r.err)
	} else if kind != hbCredential && kind != hbOutage {
		kind = hbOutage
	}
	text := p.pauseText(kind, r.err)
	if r.check {
		text = p.checkText(r.err)
	}
	// The reason follows the newest answer; the log says only when the kind of
	// problem changes (one line per state change).
	p.setReason(text)
	if kind != p.pauseKind {
		p.pauseKind = kind
		p.log.Error().Msg(text)
	}
}

// checkAtStart runs the connection check before the destination pulls anything. A
// failing check starts it paused: nothing is pulled, Ready says why, and the probe
// checks again with backoff. It returns false when ctx ended during the check.
func (p *pipeline) checkAtStart(ctx context.Context) bool {
	c := p.w.deps.Checker
	if c == nil {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, p.sendTimeout)
	err := c.Check(cctx, p.name)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	if err == nil {
		p.log.Info().Str("event_source", string(p.dest.Events.EventSource)).Msg("connection check passed")
		return true
	}
	p.paused = true
	p.pauseKind = checkKind(err)
	p.handBackAll.Store(true)
	p.fetchStopped.Store(true)
	p.bo.Reset()
	p.nakDelay = p.bo.NextBackOff()
	text := p.checkText(err)
	p.setReason(text)
	p.met.Paused(true)
	p.log.Error().Dur("probe_in", p.nakDelay).Msg(text)
	p.probeTimer.Reset(p.nakDelay)
	return true
}

// checkKind tells an unreachable TikTok (an outage) from a refusal of the token or
// of a setting.
func checkKind(err error) handBack {
	if errors.Is(err, tiktokclient.ErrGaveUp) {
		return hbOutage
	}
	return hbCredential
}

func (p *pipeline) checkText(err error) string {
	return fmt.Sprintf("destination %s paused: its connection check failed: %v; "+
		"rows stay queued, and the check runs again with backoff until it passes", p.name, err)
}

func (p *pipeline) resume() {
	p.paused = false
	p.probe = probeEvent{}
	p.handBackAll.Store(false)
	p.setReason("")
	p.met.Paused(false)
	p.log.Info().Msgf("destination %s resumed: TikTok answers again; pulling rows", p.name)
	p.startFetch()
}

// startDrain begins the shutdown: stop pulling, hand back what is not in flight.
func (p *pipeline) startDrain() {
	p.draining = true
	p.handBackAll.Store(true)
	p.stopFetch()
	p.probeTimer.Stop()
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
		p.releaseUnsent(m)
		p.finish(m, false)
		n++
		m = next
	}
	p.met.HandedBack(n)
	p.flushRelease()
	if n > 0 {
		p.log.Warn().Int("messages", n).Msg("drain timeout: handed back the messages still in progress")
	}
}

// warn logs a store failure at most once every 10 seconds.
func (p *pipeline) warn(err error, msg string) {
	if now := time.Now(); now.Sub(p.lastWarn) >= 10*time.Second {
		p.lastWarn = now
		p.log.Warn().Err(err).Msg(msg)
	}
}
