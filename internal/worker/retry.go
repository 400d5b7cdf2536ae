package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// retryWatch follows a destination's HTTP exchanges with TikTok as they happen
// (Worker.Observe, wired to the client's observer): each request the client will
// retry is kept, by when its first attempt began, until an answer settles it (or the
// client gives up on it). The core turns a request retried for longer than
// Options.RetryingAfter into the Retrying state.
type retryWatch struct {
	mu       sync.Mutex
	retrying map[time.Time]string // first attempt → what its newest answer was
}

// observe takes one exchange; it reports whether the client retries the request.
func (r *retryWatch) observe(resp tiktokclient.Response, now time.Time) bool {
	first := resp.FirstAttempt
	if first.IsZero() {
		first = now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !resp.Retry {
		delete(r.retrying, first)
		return false
	}
	if r.retrying == nil {
		r.retrying = map[time.Time]string{}
	}
	r.retrying[first] = describeAnswer(resp)
	return true
}

// oldest is the request retried longest: since its first attempt, and its newest
// answer (zero when none is retrying).
func (r *retryWatch) oldest() (since time.Time, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, w := range r.retrying {
		if since.IsZero() || t.Before(since) {
			since, what = t, w
		}
	}
	return since, what
}

// reset forgets every request (a resume, after which the client starts afresh).
func (r *retryWatch) reset() {
	r.mu.Lock()
	clear(r.retrying)
	r.mu.Unlock()
}

// describeAnswer says what a retryable answer was, in words safe to log: TikTok's code
// or the HTTP status, or the network error (the client's errors carry no token, and
// the API path no ids).
func describeAnswer(r tiktokclient.Response) string {
	switch {
	case r.HTTPStatus == 0 && r.Err != nil:
		return "no answer: " + r.Err.Error()
	case r.HTTPStatus == 0:
		return "no answer"
	case r.HTTPStatus != 200 && r.Code != 0:
		return fmt.Sprintf("HTTP %d, TikTok code %d", r.HTTPStatus, r.Code)
	case r.HTTPStatus != 200 || r.Err != nil:
		return fmt.Sprintf("HTTP %d", r.HTTPStatus)
	}
	return fmt.Sprintf("TikTok code %d", r.Code)
}

// watchRetries moves the destination between Running and Retrying by the watch.
func (p *pipeline) watchRetries(now time.Time) {
	since, what := p.retry.oldest()
	st, _, _ := p.status.get()
	switch {
	case st == Running && !since.IsZero() && now.Sub(since) >= p.w.opts.RetryingAfter:
		text := fmt.Sprintf("retrying since %s: %s", since.UTC().Format(time.RFC3339), what)
		if p.move(retryLong, since, text) {
			p.log.Warn().Time("since", since).Str("last_answer", what).
				Msgf("destination %s has been retrying a request for %s (%s); rows wait in the stream, none is dead-lettered",
					p.name, now.Sub(since).Round(time.Second), what)
		}
	case st == Retrying && since.IsZero():
		if p.move(answered, now, "") {
			p.log.Info().Msgf("destination %s: TikTok answers again", p.name)
		}
	case st == Retrying:
		p.status.setReason(fmt.Sprintf("retrying since %s: %s", since.UTC().Format(time.RFC3339), what))
	}
}
