package worker

import (
	"context"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// sendResult is what a sender brings back for one batch.
type sendResult struct {
	outcomes []outcome // one per event of the batch
	requests int
	retries  int
	err      error
	took     time.Duration
}

// outcome copies what the worker needs of a tiktokclient.Outcome.
type outcome struct {
	accepted, rejected bool
	code               int
	message, requestID string
}

// send delivers batches until sendCh is closed; in_flight of these run at once.
func (p *pipeline) send() {
	for b := range p.sendCh {
		req := p.reqTemplate
		req.Events = b.events
		ctx, cancel := context.WithTimeout(p.sendCtx, p.sendTimeout)
		start := time.Now()
		res, err := p.w.deps.Client.Send(ctx, req)
		cancel()
		r := &b.res
		r.took, r.err = time.Since(start), err
		r.requests, r.retries = res.Requests, res.Retries
		if cap(r.outcomes) < len(b.events) {
			r.outcomes = make([]outcome, len(b.events))
		}
		r.outcomes = r.outcomes[:len(b.events)]
		for i := range r.outcomes {
			o := outcome{}
			if i < len(res.Outcomes) {
				x := res.Outcomes[i]
				o = outcome{accepted: x.Status == tiktokclient.Accepted, rejected: x.Status == tiktokclient.Rejected,
					code: x.Code, message: x.Message, requestID: x.RequestID}
			}
			r.outcomes[i] = o
		}
		p.resultCh <- b
	}
}

// dispatch hands cut batches to idle senders.
func (p *pipeline) dispatch() {
	for p.inflight < p.w.opts.InFlight {
		b := p.batch.Next()
		if b == nil {
			return
		}
		p.stats.batches.Add(1)
		if len(b.refs) == p.w.opts.BatchSize {
			p.stats.full.Add(1)
		}
		p.inflight++
		p.sendCh <- b
	}
}
