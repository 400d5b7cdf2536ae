package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// settle applies one request's outcomes to its events: accepted → sent, and a
// sent-log record for this turn's job; rejected → dead letters; unsettled → the
// message goes back (and the destination pauses).
func (p *pipeline) settle(b *batch) {
	p.inflight--
	r := &b.res
	p.stats.requests.Add(int64(r.requests))
	p.stats.retries.Add(int64(r.retries))
	p.met.Request(len(b.refs), r.took, r.requests)
	kind, errText := hbNone, ""
	if r.err != nil {
		kind, errText = p.classify(r.err), r.err.Error()
	}
	now := p.w.deps.Clock()
	wall := time.Now()
	var probe probeEvent
	accepted := 0
	for k, ref := range b.refs {
		o := &r.outcomes[k]
		m, ev := ref.m, ref.event()
		l := p.copies.leaders[ref.key()]
		if l != nil && l.ref != ref {
			l = nil // cannot happen: a queued event is always its key's leader
		}
		switch {
		case o.accepted:
			*ref.status() = evSent
			m.sent += len(ev.Rows)
			accepted++
			p.accepted(ref, o.requestID, now, wall)
			if l != nil {
				p.acceptLeader(l)
				p.rec.job.leaders = append(p.rec.job.leaders, l)
			}
			p.rec.job.join(m)
		case o.rejected:
			*ref.status() = evRejected
			for _, row := range ev.Rows {
				lt := p.deadLetter(p.coreTF, m, row, events.ReasonRejected, rejectText(o), "", now)
				lt.TikTokCode, lt.TikTokReqID = o.code, o.requestID
				m.letters = append(m.letters, lt)
			}
			p.promote(l)
		default:
			*ref.status() = evUnsettled
			if kind == hbNone {
				// An Unsettled outcome without an error breaks the client's contract;
				// treat it as an outage rather than lose the row.
				kind, errText = hbOutage, "TikTok's answer left the event unsettled"
			}
			m.raise(kind)
			m.lastError = errText
			if probe.json == nil {
				probe = probeEvent{key: ref.key(), time: ev.Time, keys: ev.Keys, json: append([]byte(nil), ev.JSON...)}
			}
			p.dropLeader(l, kind)
		}
		m.open--
		p.check(m)
	}
	if accepted > 0 {
		p.stats.sentEvents.Add(int64(accepted))
		p.met.EventsSent(accepted)
		p.flushKeys()
	}
	err := r.err
	p.batch.Free(b) // r is b.res: read nothing from it after this
	if kind == hbCredential || kind == hbOutage {
		p.pause(kind, err, probe)
	}
}

// accepted records one event TikTok accepted: in this turn's sent-log record of its
// request, and in the match-key and publish-to-accept figures.
func (p *pipeline) accepted(ref evRef, requestID string, now, wall time.Time) {
	j := p.rec.job
	var rec *dedup.Record
	for i := range j.records {
		if j.records[i].RequestID == requestID {
			rec = &j.records[i]
			break
		}
	}
	if rec == nil {
		j.records = append(j.records, dedup.Record{Destination: p.name, AcceptedAt: now, RequestID: requestID})
		rec = &j.records[len(j.records)-1]
	}
	rec.Events = append(rec.Events, ref.key())
	p.keys.add(ref.event().Keys)
	if !ref.m.published.IsZero() {
		p.met.PublishToAccept(wall.Sub(ref.m.published))
	}
}

func rejectText(o *outcome) string {
	if o.message == "" {
		return fmt.Sprintf("TikTok refused the event (code %d)", o.code)
	}
	return fmt.Sprintf("TikTok refused the event (code %d): %s", o.code, o.message)
}

// classify tells why a Send left events unsettled.
func (p *pipeline) classify(err error) handBack {
	var ce *tiktokclient.CredentialError
	switch {
	case errors.As(err, &ce):
		return hbCredential
	case errors.Is(err, tiktokclient.ErrGaveUp):
		return hbOutage
	case p.draining() && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return hbRelease
	}
	return hbOutage
}
