package tiktokclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/oauth2"
)

// TrackPath is the Events API 2.0 endpoint; TikTok requires the trailing slash.
const TrackPath = "/open_api/v1.3/event/track/"

// Request is one request's worth of events for one destination (≤ 1,000 events).
// Events are already-encoded event objects (package events builds them); the client
// only wraps them in TikTok's envelope, and re-cuts them when it bisects.
type Request struct {
	EventSource   string            // "web", "offline" or "crm"
	EventSourceID string            // Pixel code, offline event set id or CRM event set id
	TestEventCode string            // top-level test_event_code, only when set
	Events        []json.RawMessage // each one event object
}

// AppendBody appends the exact JSON body of SPEC §4 for r to dst.
func (r *Request) AppendBody(dst []byte) []byte {
	dst = append(dst, `{"event_source":`...)
	dst = appendJSONString(dst, r.EventSource)
	dst = append(dst, `,"event_source_id":`...)
	dst = appendJSONString(dst, r.EventSourceID)
	if r.TestEventCode != "" {
		dst = append(dst, `,"test_event_code":`...)
		dst = appendJSONString(dst, r.TestEventCode)
	}
	dst = append(dst, `,"data":[`...)
	for i, ev := range r.Events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, ev...)
	}
	return append(dst, "]}"...)
}

// Status is what happened to one event.
type Status uint8

const (
	Unsettled Status = iota // no answer settled it (the Send error says why)
	Accepted                // TikTok took it (code 0 or 20001)
	Rejected                // TikTok refused it as a bad event; Code and Message say why
)

func (s Status) String() string {
	switch s {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	}
	return "unsettled"
}

// Outcome is one event's fate.
type Outcome struct {
	Status    Status
	Code      int    // TikTok's code (Rejected)
	Message   string // TikTok's message (Rejected)
	RequestID string // request_id of the answer that settled it
}

// Result has one Outcome per Request.Events element, in the same order.
type Result struct {
	Outcomes []Outcome
	Requests int // HTTP requests made, retries and bisection included
	Retries  int // retried attempts
	// Partial is what TikTok's partial-success answers (code 20001) reported.
	Partial Partial
}

// Send delivers req and reports every event's outcome. A non-nil error means some
// events are Unsettled: a *CredentialError (pause the destination, do not dead-letter),
// an error wrapping ErrGaveUp (retried for max elapsed; hand messages back and pause),
// or the context's error.
func (c *Client) Send(ctx context.Context, req Request) (Result, error) {
	s := &sender{c: c, req: &req, res: Result{Outcomes: make([]Outcome, len(req.Events))}}
	if len(req.Events) == 0 {
		return s.res, nil
	}
	// TikTok refuses more than MaxEvents whole; cut such a request up front rather
	// than let bisection discover the limit.
	for lo := 0; lo < len(req.Events); lo += MaxEvents {
		hi := min(lo+MaxEvents, len(req.Events))
		s.chunk = chunk{lo: lo, hi: hi, alike: true}
		if _, err := s.settle(ctx, lo, hi, nil); err != nil {
			return s.res, err
		}
	}
	return s.res, nil
}

// MaxEvents is the most events TikTok takes in one request.
const MaxEvents = 1000

// sender is the state of one Send: the outcomes so far, and whether the token was
// already refreshed (once per Send, so a revoked token cannot loop).
type sender struct {
	c     *Client
	req   *Request
	res   Result
	st    callState
	chunk chunk // the request of ≤ MaxEvents being settled
}

// settle settles events [lo, hi). knownBad is the answer that proved the range holds
// a bad event without sending it (its left sibling came back clean), which saves a
// request per bisection level. It reports whether the range was accepted whole.
func (s *sender) settle(ctx context.Context, lo, hi int, knownBad *answer) (bool, error) {
	var ans answer
	switch known, ok := s.chunk.sampled[lo]; {
	case knownBad != nil && hi-lo > 1:
		ans = *knownBad
	case hi-lo == 1 && ok:
		ans = known // sent alone already while checking for a refusal of every event
	default:
		// A single event is always sent on its own, even when known bad: it is
		// rejected on its own answer only, with TikTok's message for it.
		var err error
		if ans, err = s.post(ctx, lo, hi); err != nil {
			return false, err
		}
	}
	if Classify(ans.Code) == ClassSuccess {
		s.accept(lo, hi, &ans)
		return true, nil
	}
	// A bad-events answer (call returns no other class without an error). One that
	// names the envelope is the destination's configuration, not an event.
	if f := EnvelopeField(ans.Message); f != "" {
		return false, &CredentialError{Code: ans.Code, Message: ans.Message, RequestID: ans.RequestID, Field: f}
	}
	if hi-lo == 1 {
		s.res.Outcomes[lo] = Outcome{Status: Rejected, Code: ans.Code, Message: ans.Message, RequestID: ans.RequestID}
		return false, s.refusedAlone(ctx, lo, ans)
	}
	mid := lo + (hi-lo)/2
	leftClean, err := s.settle(ctx, lo, mid, nil)
	if err != nil {
		return false, err
	}
	var hint *answer
	if leftClean {
		hint = &ans // the bad event of this range is on the right
	}
	_, err = s.settle(ctx, mid, hi, hint)
	return false, err
}

// post sends events [lo, hi) of the request as one request, with retries.
func (s *sender) post(ctx context.Context, lo, hi int) (answer, error) {
	sub := Request{EventSource: s.req.EventSource, EventSourceID: s.req.EventSourceID,
		TestEventCode: s.req.TestEventCode, Events: s.req.Events[lo:hi]}
	bp := bodyPool.Get().(*[]byte)
	body := sub.AppendBody((*bp)[:0])
	s.st.events, s.st.sourceID = hi-lo, s.req.EventSourceID
	ans, err := s.c.call(ctx, http.MethodPost, TrackPath, nil, body, &s.st)
	*bp = body
	bodyPool.Put(bp)
	s.res.Requests, s.res.Retries = s.st.requests, s.st.retries
	return ans, err
}

// accept settles events [lo, hi) as Accepted by ans, counting what a partial
// success reported.
func (s *sender) accept(lo, hi int, ans *answer) {
	for i := lo; i < hi; i++ {
		s.res.Outcomes[i] = Outcome{Status: Accepted, RequestID: ans.RequestID}
	}
	s.chunk.accepted = true
	if ans.Code == CodePartialSuccess {
		s.res.Partial.add(ans.Data)
	}
}

// bodyPool reuses request bodies: a 1,000-event body is ~400 kB, built per request.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// respPool reuses response read buffers.
var respPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// answer is TikTok's envelope.
type answer struct {
	Code      int             `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	Data      json.RawMessage `json:"data"`
}

type callState struct {
	requests  int
	retries   int
	refreshed bool
	events    int    // events in the request being made (Response.Events)
	sourceID  string // event_source_id of the request being made (Response.EventSourceID)
}

// Invalidator is implemented by token sources that can fetch a new access token
// when TikTok refuses the current one (NewRefreshTokenSource's source does).
type Invalidator interface {
	// Invalidate drops accessToken so that the next Token call exchanges anew;
	// a token already replaced by another caller is left alone.
	Invalidate(accessToken string)
}

// call makes one API call with retries. It returns the answer of class success or
// bad events; credential answers (after one refresh where possible) come back as
// *CredentialError, and retryable failures that outlast max elapsed as ErrGaveUp.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body []byte, st *callState) (answer, error) {
	return c.callFor(ctx, method, path, query, body, st, c.maxElapsed, "delivery.max_elapsed")
}

// callFor is call with its own bound on retries; limitName names the setting.
func (c *Client) callFor(ctx context.Context, method, path string, query url.Values, body []byte, st *callState, maxElapsed time.Duration, limitName string) (answer, error) {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.maxInterval,
		MaxElapsedTime:      maxElapsed,
		Stop:                backoff.Stop,
		Clock:               c.clock,
	}
	bo.Reset()
	start := c.clock.Now()
	var first *failure
	mixed := false
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return answer{}, err
		}
		obs := Response{Attempt: attempt, FirstAttempt: start}
		ans, class, retryAfter, tok, cause := c.attempt(ctx, method, path, target, body, st, &obs)
		if err := ctx.Err(); err != nil {
			c.observe(&obs)
			return answer{}, err
		}
		switch class {
		case ClassSuccess:
			if c.limiter != nil {
				c.limiter.Succeeded()
			}
			c.observe(&obs)
			return ans, nil
		case ClassBadEvents:
			c.observe(&obs)
			return ans, nil
		case ClassCredential:
			var ce *CredentialError
			if !errors.As(cause, &ce) {
				ce = &CredentialError{Code: ans.Code, Message: ans.Message, RequestID: ans.RequestID}
			}
			if inv, ok := c.ts.(Invalidator); ok && !st.refreshed && tok != "" {
				st.refreshed = true
				inv.Invalidate(tok)
				obs.Retry = true
				c.observe(&obs)
				c.log.Info().Int("code", ce.Code).Str("request_id", ce.RequestID).Msg("tiktok refused the access token; refreshing it once")
				continue
			}
			c.observe(&obs)
			return answer{}, ce
		}
		// ClassRetry
		f := asFailure(cause, c.timeout)
		if first == nil {
			first = f
		} else if !f.same(first) {
			mixed = true
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			c.observe(&obs)
			err := &gaveUpError{first: first, last: f, mixed: mixed, attempts: attempt,
				elapsed: c.clock.Now().Sub(start), limit: maxElapsed, limitName: limitName}
			c.log.Warn().Int("attempts", attempt).Str("path", path).AnErr("error", err).Msg("tiktok: giving up after max elapsed")
			return answer{}, err
		}
		if IsRateLimit(ans.Code) {
			if c.limiter != nil {
				c.limiter.Throttled()
			}
			if d < c.rateLimitFloor {
				d = c.rateLimitFloor
			}
		}
		if retryAfter > d {
			d = retryAfter
		}
		obs.Retry, obs.RetryIn = true, d
		c.observe(&obs)
		c.log.Debug().Int("attempt", attempt).Str("path", path).Dur("delay", d).AnErr("error", cause).Msg("tiktok: retrying")
		st.retries++
		if err := c.clock.Sleep(ctx, d); err != nil {
			return answer{}, err
		}
	}
}

// observe hands obs to every observer when it records an HTTP exchange (an
// attempt refused before one — no token, the limiter's wait cut short — is not).
func (c *Client) observe(obs *Response) {
	if obs.Path == "" {
		return
	}
	for _, fn := range c.observers {
		fn(*obs)
	}
}

// attempt makes one HTTP request. It returns the envelope, its class, a Retry-After
// delay when the server sent one, the access token used (for Invalidate), and the
// failure cause for retries and credential errors.
func (c *Client) attempt(ctx context.Context, method, path, target string, body []byte, st *callState, obs *Response) (answer, Class, time.Duration, string, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return answer{}, ClassRetry, 0, "", &failure{kind: failLocal, err: err}
		}
	}
	tok, err := c.ts.Token()
	if err != nil {
		var ce *CredentialError
		if errors.As(err, &ce) {
			return answer{Code: ce.Code, Message: ce.Message, RequestID: ce.RequestID}, ClassCredential, 0, "", ce
		}
		// The token endpoint did not answer: as transient as the API itself.
		return answer{}, ClassRetry, 0, "", &failure{kind: failToken, err: fmt.Errorf("getting an access token: %w", err)}
	}
	actx, cancel := c.attemptContext(ctx)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		return answer{}, ClassCredential, 0, "", &CredentialError{Code: -1, Message: "bad API base: " + err.Error()}
	}
	hreq.Header.Set("Access-Token", tok.AccessToken)
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("Accept", "application/json")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	st.requests++
	obs.Path, obs.EventSourceID, obs.Events = path, st.sourceID, st.events
	start := c.clock.Now()
	ans, class, retryAfter, cause := c.exchange(hreq, obs)
	obs.Class, obs.Took = class, c.clock.Now().Sub(start)
	if obs.HTTPStatus != 0 && obs.HTTPStatus != http.StatusOK {
		// No token returned: a wrong path or host is no reason to refresh the token.
		return ans, class, retryAfter, "", cause
	}
	return ans, class, retryAfter, tok.AccessToken, cause
}

// attemptContext bounds one attempt by the request timeout: on the Clock when it is
// a TimerClock, else by a deadline on the wall clock.
func (c *Client) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	tc, ok := c.clock.(TimerClock)
	if !ok {
		return context.WithTimeout(ctx, c.timeout)
	}
	actx, cancel := context.WithCancelCause(ctx)
	stop := tc.AfterFunc(c.timeout, func() { cancel(context.DeadlineExceeded) })
	return timedContext{actx}, func() { stop(); cancel(context.Canceled) }
}

// timedContext is a context a TimerClock's timer cancelled with the cause
// context.DeadlineExceeded; its Err says so, as a context.WithTimeout's would, so
// the attempt reads as a timeout and is retried.
type timedContext struct{ context.Context }

func (t timedContext) Err() error {
	err := t.Context.Err()
	if err != nil && errors.Is(context.Cause(t.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// exchange sends hreq and reads TikTok's answer, noting in obs what came back.
func (c *Client) exchange(hreq *http.Request, obs *Response) (answer, Class, time.Duration, error) {
	resp, err := c.hc.Do(hreq)
	if err != nil {
		obs.Err = redactURLError(err)
		return answer{}, ClassRetry, 0, asFailure(obs.Err, c.timeout)
	}
	obs.HTTPStatus = resp.StatusCode
	buf := respPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer respPool.Put(buf)
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), c.clock.Now())
	var ans answer
	decErr := json.Unmarshal(buf.Bytes(), &ans)
	if resp.StatusCode != http.StatusOK {
		class := ClassifyHTTP(resp.StatusCode)
		var detail string
		if decErr == nil {
			detail = ans.Message
		}
		msg := fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if detail != "" {
			msg += ": " + detail
		}
		a := answer{Code: resp.StatusCode, Message: msg, RequestID: ans.RequestID}
		if class == ClassRetry {
			return a, class, retryAfter, &failure{kind: failHTTP, status: resp.StatusCode, msg: detail, rid: ans.RequestID}
		}
		msg += "; check tiktok.api_base"
		return a, class, retryAfter, &CredentialError{Code: resp.StatusCode, HTTPStatus: resp.StatusCode, Message: msg, RequestID: ans.RequestID}
	}
	if rerr != nil {
		obs.Err = fmt.Errorf("reading the answer: %w", rerr)
		return answer{}, ClassRetry, retryAfter, &failure{kind: failUnreadable, err: obs.Err}
	}
	if decErr != nil {
		// A 200 that is not TikTok's envelope: a proxy or a cut-off body. Transient.
		obs.Err = fmt.Errorf("answer is not TikTok's JSON envelope: %w", decErr)
		return answer{}, ClassRetry, retryAfter, &failure{kind: failUnreadable, err: obs.Err}
	}
	obs.Code = ans.Code
	if ans.Data != nil {
		ans.Data = append(json.RawMessage(nil), ans.Data...) // buf goes back to the pool
	}
	class := Classify(ans.Code)
	var cause error
	if class == ClassRetry {
		cause = &failure{kind: failCode, code: ans.Code, msg: ans.Message, rid: ans.RequestID}
	}
	return ans, class, retryAfter, cause
}

// redactURLError keeps the failure but not the query string (it carries ids, and a
// future endpoint might carry more).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery = ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// StaticToken is the token source of a long-term access token (the common case):
// TikTok Marketing API tokens do not expire on a timer, they are revoked.
func StaticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Access-Token"})
}

// appendJSONString appends s as a JSON string. The envelope's strings are short and
// written once per request, so encoding/json's escaping (valid JSON for any input,
// unlike strconv.Quote's Go escapes) costs nothing that matters.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
