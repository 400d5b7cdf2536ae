package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// pipeline is one destination's consume loop. Its core goroutine owns every message,
// batch and copy; the stages around it (fetch → transform, the senders, the IO jobs,
// the probe) only hand values to it through channels.
type pipeline struct {
	w      *Worker
	dest   Destination
	name   string
	log    zerolog.Logger
	met    *metrics.Destination
	stats  *counters
	status status
	retry  retryWatch

	reqTemplate      tiktokclient.Request
	window           time.Duration
	sendTimeout      time.Duration
	stageTF, coreTF  *events.Transformer // the transform stage's and the core's
	fetch            *fetcher
	sendCtx, ioCtx   context.Context
	groupCh          chan *group
	sendCh, resultCh chan *batch
	ioDoneCh         chan *ioJob
	probeCh          chan probeResult
	quit             chan struct{}

	coreState // owned by the core goroutine
}

// coreState is what only the core goroutine touches.
type coreState struct {
	live     liveList
	copies   copies
	batch    batcher
	rec      recorder
	pauser   pauser
	tally    tally
	keys     keyTally
	idle     idleCut
	inflight int
	lastWarn time.Time
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
	log := w.deps.Log.With().Str("destination", d.Name).Logger()
	p := &pipeline{
		w:           w,
		dest:        d,
		name:        d.Name,
		log:         log,
		met:         w.deps.Metrics.Destination(d.Name),
		stats:       newCounters(),
		reqTemplate: tiktokclient.Request{EventSource: cfg.EventSource, EventSourceID: cfg.EventSourceID, TestEventCode: tec},
		window:      cfg.Window,
		sendTimeout: o.MaxElapsed + o.MaxElapsed/4 + 30*time.Second,
		stageTF:     stageTF,
		coreTF:      coreTF,
		fetch:       newFetcher(o.PullBuffer, (o.InFlight+1)*o.BatchSize, log),
		groupCh:     make(chan *group, 2),
		sendCh:      make(chan *batch, o.InFlight),
		resultCh:    make(chan *batch, o.InFlight),
		ioDoneCh:    make(chan *ioJob, 16),
		probeCh:     make(chan probeResult, 1),
		quit:        make(chan struct{}),
	}
	if p.window <= 0 {
		p.window = events.DefaultWindow
	}
	p.coreState = coreState{
		copies: newCopies(2 * o.BatchSize),
		batch:  newBatcher(o.BatchSize, o.MaxWait),
		rec:    newRecorder(),
		pauser: newPauser(o.ProbeMin, o.ProbeMax),
		keys:   newKeyTally(),
		idle:   newIdleCut(o.MaxWait),
	}
	p.met.MatchKeysKnown(MatchKeyNames())
	p.setStateGauge(Starting)
	return p, nil
}

// move applies a trigger to the destination's state and follows it in the gauges.
func (p *pipeline) move(t trigger, since time.Time, reason string) bool {
	_, to, changed := p.status.move(t, since, reason)
	if changed {
		p.setStateGauge(to)
	}
	return changed
}

func (p *pipeline) setStateGauge(s State) {
	p.met.State(s.String(), stateNames[:])
	p.met.Paused(s == Paused)
}

// run starts the stages, runs the core until the drain is over, and stops the stages.
func (p *pipeline) run(ctx context.Context) error {
	cons, err := p.consumer(ctx)
	if err != nil {
		return nil // cancelled while waiting for the consumer: nothing is in hand
	}
	p.fetch.cons = cons
	if !p.checkAtStart(ctx) {
		return nil // cancelled during the check: nothing is in hand
	}
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	defer cancelIO()
	p.sendCtx, p.ioCtx = sendCtx, ioCtx

	var wg sync.WaitGroup
	wg.Go(func() { p.fetch.run(ctx, p.quit) })
	wg.Go(p.transform)
	for range p.w.opts.InFlight {
		wg.Go(p.send)
	}
	wg.Go(func() { p.refreshPending(ctx) })

	end := p.loop(ctx, drainCuts{cancelSends: cancelSend, cancelIO: cancelIO})

	close(p.sendCh)
	close(p.quit)
	cancelSend()
	cancelIO()
	p.fetch.stop()
	p.move(drained, time.Now(), "")
	// Acks and NAKs are buffered by the connection: push them out before returning.
	left := max(time.Until(end), 50*time.Millisecond)
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
	delay := 100 * time.Millisecond
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := p.w.deps.JS.Consumer(cctx, n.RowsStream, n.ConsumerName(p.name))
		cancel()
		if err == nil {
			if logged {
				p.status.setReason("")
				p.log.Info().Msgf("destination %s: consumer %s found; starting", p.name, n.ConsumerName(p.name))
			}
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !logged {
			logged = true
			text := fmt.Sprintf("destination %s waits for its consumer %s on stream %s: %v "+
				"(the topology is created at start-up; check NATS)", p.name, n.ConsumerName(p.name), n.RowsStream, err)
			p.status.setReason(text)
			p.log.Error().Msg(text)
		}
		if !wait(ctx, delay) {
			return nil, ctx.Err()
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func (p *pipeline) refreshPending(ctx context.Context) {
	if p.met == nil {
		return
	}
	t := time.NewTicker(p.w.opts.PendingInterval)
	defer t.Stop()
	for {
		if info, err := p.fetch.cons.Info(ctx); err == nil {
			p.met.Pending(info.NumPending, uint64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// warn logs a store failure at most once every 10 seconds.
func (p *pipeline) warn(err error, msg string) {
	if now := time.Now(); now.Sub(p.lastWarn) >= 10*time.Second {
		p.lastWarn = now
		p.log.Warn().Err(err).Msg(msg)
	}
}
