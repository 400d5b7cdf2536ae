package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// pauser is the probe of a paused destination: one event of the batch that paused
// it (or the connection check), re-sent with exponential backoff until TikTok
// answers. Owned by the core goroutine.
type pauser struct {
	kind    handBack // what paused it: hbCredential or hbOutage
	cause   error    // the error that paused it
	probing bool     // a probe is under way
	probe   probeEvent
	bo      *backoff.ExponentialBackOff
	delay   time.Duration // the current backoff: until the next probe, and NAK delays
	timer   *time.Timer
}

type probeEvent struct {
	key  dedup.Key
	time int64 // event_time, so a probe never sends an event that left its window
	keys events.MatchKeys
	json []byte
}

type probeResult struct {
	res       tiktokclient.Result
	err       error
	appendErr error
	check     bool // a connection check, not an event, was the probe
	none      bool // nothing to probe with: resume, the next batch is the probe
}

func newPauser(min, max time.Duration) pauser {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = min, max, 0
	bo.Multiplier, bo.RandomizationFactor = 2, 0.2
	return pauser{bo: bo, timer: stoppedTimer()}
}

// nakDelay is how long a handed-back message waits: the probe's backoff while
// paused, else min.
func (ps *pauser) nakDelay(min time.Duration) time.Duration {
	if ps.delay > 0 {
		return ps.delay
	}
	return min
}

// next moves the backoff on and arms the probe timer.
func (ps *pauser) next() {
	ps.delay = ps.bo.NextBackOff()
	ps.timer.Reset(ps.delay)
}

// pause stops the destination after a credential refusal or an outage: nothing more
// is pulled, everything not in flight goes back to the stream, and a probe retries
// with backoff. A paused destination only updates its reason (and logs when the kind
// of problem changes).
func (p *pipeline) pause(kind handBack, err error, probe probeEvent) {
	ps := &p.pauser
	if ps.probe.json == nil {
		ps.probe = probe
	}
	text := p.pauseText(kind, err)
	st, _, _ := p.status.get()
	if st == Paused {
		if kind != ps.kind {
			ps.kind = kind
			p.status.setReason(text)
			p.log.Error().Msg(text)
		}
		return
	}
	if !p.move(gaveUp, time.Now(), text) {
		return // draining
	}
	ps.kind, ps.cause = kind, err
	p.fetch.stop()
	ps.bo.Reset()
	ps.next()
	p.log.Error().Dur("probe_in", ps.delay).Msg(text)
	p.handBackQueued(hbPaused)
}

func (p *pipeline) pauseText(kind handBack, err error) string {
	// The client's errors say what happened and which setting to check (the token,
	// api_base, advertiser_id / event_source_id, or an outage with its attempts).
	if kind == hbCredential {
		return fmt.Sprintf("destination %s paused: %v; rows stay queued and the destination is probed until TikTok accepts it", p.name, err)
	}
	return fmt.Sprintf("destination %s paused: %v; rows stay queued and are retried when TikTok answers again", p.name, err)
}

// handBackQueued takes every event out of the batcher: they will not be sent in this
// delivery.
func (p *pipeline) handBackQueued(kind handBack) {
	for _, b := range p.batch.TakeAll() {
		for _, ref := range b.refs {
			*ref.status() = evUnsettled
			ref.m.raise(kind)
			if l := p.copies.leaders[ref.key()]; l != nil && l.ref == ref {
				p.dropLeader(l, kind)
			}
			ref.m.open--
			p.check(ref.m)
		}
		p.batch.Free(b)
	}
}

// startProbe re-sends one event of the batch that paused the destination, or, with no
// event to probe with, runs the connection check (Deps.Checker). The probe holds no
// message: if TikTok takes the event, its record is appended before the destination
// resumes, so the redelivered row counts as a duplicate of it.
func (p *pipeline) startProbe() {
	ps := &p.pauser
	if st, _, _ := p.status.get(); st != Paused || ps.probing {
		return
	}
	if ps.probe.json != nil && p.w.deps.Clock().Unix()-ps.probe.time > int64(p.window/time.Second) {
		// The event waited out its window: sending it now would deliver a row the
		// transform dead-letters as outside_window on redelivery.
		ps.probe = probeEvent{}
	}
	if ps.probe.json == nil && p.w.deps.Checker == nil {
		p.resume() // nothing to probe with: the next batch is the probe
		return
	}
	ps.probing = true
	pr := ps.probe
	go func() {
		r := p.runProbe(pr)
		select {
		case p.probeCh <- r:
		case <-p.quit:
		}
	}()
}

// runProbe is the probe's request, off the core goroutine.
func (p *pipeline) runProbe(pr probeEvent) (r probeResult) {
	ctx, cancel := context.WithTimeout(p.sendCtx, p.sendTimeout)
	defer cancel()
	switch {
	case pr.json != nil:
		req := p.reqTemplate
		req.Events = []json.RawMessage{pr.json}
		r.res, r.err = p.w.deps.Client.Send(ctx, req)
		if r.err == nil && len(r.res.Outcomes) == 1 && r.res.Outcomes[0].Status == tiktokclient.Accepted {
			r.appendErr = p.appendProbe(p.ioCtx, dedup.Record{Destination: p.name, AcceptedAt: p.w.deps.Clock(),
				RequestID: r.res.Outcomes[0].RequestID, Events: []dedup.Key{pr.key}})
		}
	case p.w.deps.Checker != nil:
		r.check = true
		r.err = p.w.deps.Checker.Check(ctx, p.name)
	default:
		r.none = true
	}
	return r
}

// probed applies a probe's answer: resume when TikTok answered, else probe again
// later (the reason follows the newest answer; the log only a change of kind).
func (p *pipeline) probed(r probeResult) {
	ps := &p.pauser
	ps.probing = false
	p.stats.requests.Add(int64(r.res.Requests))
	p.stats.retries.Add(int64(r.res.Retries))
	if r.err == nil && len(r.res.Outcomes) == 1 && r.res.Outcomes[0].Status == tiktokclient.Accepted {
		p.stats.sentEvents.Add(1)
		p.met.EventsSent(1)
		p.keys.add(ps.probe.keys)
		p.flushKeys()
		if r.appendErr != nil {
			p.warn(r.appendErr, "the sent log did not record the probe event; TikTok drops its repeat")
		}
	}
	if st, _, _ := p.status.get(); st != Paused {
		return
	}
	var ce *tiktokclient.CredentialError
	if r.err == nil && len(r.res.Outcomes) == 1 && errors.As(ps.cause, &ce) && ce.SameRefusal(r.res.Outcomes[0]) {
		// Refused the way every event was when the destination paused: it is still
		// misconfigured (not this event's fault), so it stays paused.
		r.err = ps.cause
	}
	if r.none || r.err == nil {
		p.resume()
		return
	}
	ps.next()
	kind := p.classify(r.err)
	text := p.pauseText(kind, r.err)
	switch {
	case r.check:
		kind, text = checkKind(r.err), p.checkText(r.err)
	case kind != hbCredential:
		kind = hbOutage
	}
	p.status.setReason(text)
	if kind != ps.kind {
		ps.kind = kind
		p.log.Error().Msg(text)
	}
}

// checkAtStart runs the connection check before the destination pulls anything. A
// failing check starts it paused: nothing is pulled, Ready says why, and the probe
// checks again with backoff. It returns false when ctx ended during the check.
func (p *pipeline) checkAtStart(ctx context.Context) bool {
	c := p.w.deps.Checker
	if c != nil {
		cctx, cancel := context.WithTimeout(ctx, p.sendTimeout)
		err := c.Check(cctx, p.name)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			text := p.checkText(err)
			p.move(checkFailed, time.Now(), text)
			p.pauser.kind = checkKind(err)
			p.fetch.stopped.Store(true)
			p.pauser.bo.Reset()
			p.pauser.next()
			p.log.Error().Dur("probe_in", p.pauser.delay).Msg(text)
			return true
		}
		p.log.Info().Str("event_source", p.dest.Events.EventSource).Msg("connection check passed")
	}
	p.move(started, time.Now(), "")
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

// resume ends a pause: pulling starts again.
func (p *pipeline) resume() {
	ps := &p.pauser
	ps.probe, ps.delay, ps.cause = probeEvent{}, 0, nil
	p.retry.reset()
	p.move(resumed, time.Now(), "")
	p.log.Info().Msgf("destination %s resumed: TikTok answers again; pulling rows", p.name)
	p.fetch.start()
}
