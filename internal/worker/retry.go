package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// retryWatch follows a destination's HTTP exchanges with TikTok as they happen
// (Worker.Observe, wired to the client's observer): since is when the current run of
// retryable answers began (zero once an answer settles a request), what the newest
// of them was. The core turns a run longer than Options.RetryingAfter into the
// Retrying state.
type retryWatch struct {
	mu    sync.Mutex
	since time.Time
	what  string
}

// observe takes one exchange; it reports whether it will be retried.
func (r *retryWatch) observe(resp tiktokclient.Response, now time.Time) bool {
	retry := resp.Class == tiktokclient.ClassRetry
	r.mu.Lock()
	defer r.mu.Unlock()
	if !retry {
		r.since, r.what = time.Time{}, ""
		return false
	}
	if r.since.IsZero() {
		r.since = now
	}
	r.what = describeAnswer(resp)
	return true
}

func (r *retryWatch) get() (time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.since, r.what
}

func (r *retryWatch) reset() {
	r.mu.Lock()
	r.since, r.what = time.Time{}, ""
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
	case r.HTTPStatus != 200 || r.Err != nil:
		return fmt.Sprintf("HTTP %d", r.HTTPStatus)
	}
	return fmt.Sprintf("TikTok code %d", r.Code)
}

// watchRetries moves the destination between Running and Retrying by the watch.
func (p *pipeline) watchRetries(now time.Time) {
	since, what := p.retry.get()
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
